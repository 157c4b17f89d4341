"""The checks every management operation makes before its own work, route by route: a malformed
FunctionName (400), an unknown function (404, the qualifier in the ARN only where the operation
reads one), the Qualifier query (read by GetFunction, GetFunctionConfiguration, DeleteFunction and
the policy operations, ignored by the others), a body that is not JSON (checked after the
function), the tagging operations' resource ARN, and the size limit of the operations that carry
code or a configuration (checked first). One table of routes drives every case, so a route wired
to the wrong check fails here. Texts are AWS's (reference §6/§7); nothing here changes state."""
import http.client
import json
import urllib.parse

from lemu_testlib import UUID_RE, arn

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
FN = "/2015-03-31/functions/"
NAME_PATTERN = ("Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|"
                "(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|"
                "[a-zA-Z0-9-_]+))?")
QUALIFIER_PATTERN = "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."
NOT_JSON_PREFIX = "Could not parse request body into json: "

# (method, path with {} for the function, reads the Qualifier query, has a body)
ROUTES = [
    ("GET", FN + "{}", True, False),
    ("DELETE", FN + "{}", True, False),
    ("GET", FN + "{}/configuration", True, False),
    ("PUT", FN + "{}/configuration", False, True),
    ("PUT", FN + "{}/code", False, True),
    ("POST", FN + "{}/versions", False, True),
    ("GET", FN + "{}/versions", False, False),
    ("POST", FN + "{}/aliases", False, True),
    ("GET", FN + "{}/aliases", False, False),
    ("GET", FN + "{}/aliases/live", False, False),
    ("PUT", FN + "{}/aliases/live", False, True),
    ("DELETE", FN + "{}/aliases/live", False, False),
    ("POST", FN + "{}/policy", True, True),
    ("GET", FN + "{}/policy", True, False),
    ("DELETE", FN + "{}/policy/sid", True, False),
    ("PUT", "/2017-10-31/functions/{}/concurrency", False, True),
    ("GET", "/2019-09-30/functions/{}/concurrency", False, False),
    ("DELETE", "/2017-10-31/functions/{}/concurrency", False, False),
]
TAG_ROUTES = [("POST", True), ("GET", False), ("DELETE", False)]


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def path_of(template, name, query=""):
    return template.replace("{}", urllib.parse.quote(name, safe=":")) + query


def aws_error(server, method, path, body=None, headers=None):
    """(status, error type, message) of an error answer, after checking its AWS framing."""
    status, hdrs, data = request(server, method, path, body, headers)
    assert hdrs.get("content-type") == "application/json", (method, path, status, hdrs, data)
    assert UUID_RE.match(hdrs.get("x-amzn-requestid", "")), (method, path, hdrs)
    doc = json.loads(data)
    return status, hdrs.get("x-amzn-errortype"), doc.get("message", doc.get("Message"))


def start_with_function(make_lemu, tmp_path):
    """A server with function fx (serving a local directory) and its alias live."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return event\n")
    server = make_lemu(config={}, args=["--pending-seconds", "0"])
    c = server.client()
    c.create_function(FunctionName="fx", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                      Code={"S3Bucket": "lemu-local", "S3Key": str(code)})
    c.create_alias(FunctionName="fx", Name="live", FunctionVersion="$LATEST")
    return server


def test_unknown_function_is_404_with_the_qualifier_only_where_read(make_lemu, tmp_path):
    server = make_lemu(config={}, args=["--pending-seconds", "0"])
    for method, template, reads_q, _ in ROUTES:
        got = aws_error(server, method, path_of(template, "nope"))
        assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("nope")), (method, template)
        got = aws_error(server, method, path_of(template, "nope", "?Qualifier=7"))
        expected = arn("nope", "7") if reads_q else arn("nope")
        assert got == (404, "ResourceNotFoundException", "Function not found: " + expected), (method, template)
        # a qualifier in the name counts everywhere
        got = aws_error(server, method, path_of(template, "nope:live"))
        assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("nope", "live")), \
            (method, template)


def test_malformed_function_names_are_validation_errors(make_lemu, tmp_path):
    server = make_lemu(config={}, args=["--pending-seconds", "0"])
    long_name = "x" * 171
    for method, template, _, has_body in ROUTES:
        body = b"not json" if has_body else None  # the name is checked first
        got = aws_error(server, method, path_of(template, long_name), body)
        assert got == (400, "ValidationException",
                       "1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: "
                       "Member must have length less than or equal to 170" % long_name), (method, template)
        got = aws_error(server, method, path_of(template, "bad name!"), body)
        assert got == (400, "ValidationException",
                       "1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy "
                       "constraint: " + NAME_PATTERN), (method, template)


def test_qualifier_query_is_checked_only_by_the_operations_that_take_it(make_lemu, tmp_path):
    server = start_with_function(make_lemu, tmp_path)
    for method, template, reads_q, has_body in ROUTES:
        body = b"not json" if has_body else None
        got = aws_error(server, method, path_of(template, "nope", "?Qualifier=bad!q"), body)
        if reads_q:  # the query is validated before the function is looked for
            assert got == (400, "ValidationException",
                           "1 validation error detected: Value 'bad!q' at 'qualifier' failed to satisfy "
                           "constraint: " + QUALIFIER_PATTERN), (method, template)
        else:
            assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("nope")), \
                (method, template)
        got = aws_error(server, method, path_of(template, "fx:1", "?Qualifier=2"), body)
        if reads_q:
            assert got == (400, "InvalidParameterValueException", MISMATCH), (method, template)
        else:
            assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("fx", "1")), \
                (method, template)
    # the function's region and account must be lemu's
    for other in ("arn:aws:lambda:eu-west-1:123456789012:function:fx", "999999999999:function:fx"):
        got = aws_error(server, "GET", path_of(FN + "{}/configuration", other))
        assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("fx")), other


def test_body_is_read_after_the_function(make_lemu, tmp_path):
    server = start_with_function(make_lemu, tmp_path)
    for method, template, _, has_body in ROUTES:
        if not has_body:
            continue
        # unknown function: its 404 wins over the body
        got = aws_error(server, method, path_of(template, "nope"), b"not json")
        assert got[:2] == (404, "ResourceNotFoundException"), (method, template, got)
        for body in (b"not json", b"[1]", b"\"text\""):
            status, etype, message = aws_error(server, method, path_of(template, "fx"), body)
            assert (status, etype) == (400, "InvalidRequestContentException"), (method, template, body, message)
            assert message.startswith(NOT_JSON_PREFIX), (method, template, body, message)
    # UpdateAlias looks for the alias before it reads the body
    got = aws_error(server, "PUT", path_of(FN + "{}/aliases/other", "fx"), b"not json")
    assert got == (404, "ResourceNotFoundException", "Alias not found: " + arn("fx", "other")), got
    # a member of the wrong JSON type is named
    got = aws_error(server, "PUT", path_of(FN + "{}/configuration", "fx"), json.dumps({"Timeout": "3"}).encode())
    assert got == (400, "InvalidRequestContentException", NOT_JSON_PREFIX + "Timeout"), got
    got = aws_error(server, "POST", path_of(FN + "{}/aliases", "fx"), json.dumps({"Name": 1}).encode())
    assert got == (400, "InvalidRequestContentException", NOT_JSON_PREFIX + "Name"), got


def test_tagging_resource_arn(make_lemu, tmp_path):
    server = start_with_function(make_lemu, tmp_path)
    for method, has_body in TAG_ROUTES:
        body = b"not json" if has_body else None
        got = aws_error(server, method, "/2017-03-31/tags/" + urllib.parse.quote("bad name!"), body)
        assert got == (400, "ValidationException",
                       "1 validation error detected: Value 'bad name!' at 'resource' failed to satisfy "
                       "constraint: " + NAME_PATTERN), method
        got = aws_error(server, method, "/2017-03-31/tags/" + arn("nope"), body)
        assert got == (404, "ResourceNotFoundException", "Function not found: " + arn("nope")), method
    status, etype, message = aws_error(server, "POST", "/2017-03-31/tags/" + arn("fx"), b"[1]")
    assert (status, etype) == (400, "InvalidRequestContentException") and message.startswith(NOT_JSON_PREFIX)


def test_size_limit_is_checked_first(make_lemu, tmp_path):
    """A client that waits for 100 Continue is refused from its headers alone."""
    server = make_lemu(config={}, args=["--pending-seconds", "0"])
    cases = [("POST", FN.rstrip("/"), 70167211, "CreateFunction"),
             ("PUT", FN + "nope/code", 70167211, "UpdateFunctionCode"),
             ("PUT", FN + "bad%20name!/code", 70167211, "UpdateFunctionCode"),
             ("PUT", FN + "nope/configuration", 5120, "UpdateFunctionConfiguration")]
    for method, path, limit, operation in cases:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.putrequest(method, path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(limit + 1))
        conn.putheader("Expect", "100-continue")
        conn.endheaders()
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        assert resp.status == 413, (path, resp.status, data)
        assert resp.getheader("x-amzn-ErrorType") == "RequestEntityTooLargeException"
        assert UUID_RE.match(resp.getheader("x-amzn-RequestId"))
        assert json.loads(data)["Message"] == \
            "Request must be smaller than %d bytes for the %s operation" % (limit, operation), data
