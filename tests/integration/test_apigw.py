"""The API Gateway proxy front (issue 9), through plain HTTP (http.client), as a browser or curl
would call it: SAM-style routes from the config's Events, REST payload 1.0 and HTTP API payload
2.0 events, the proxy response contract and the gateway's own answers.

Expected bytes are API Gateway's (../shared/lambda-reference.md §8, seed 003): the REST 502
`{"message": "Internal server error"}` with x-amzn-ErrorType InternalServerErrorException and the
execution-log line `Execution failed due to configuration error: Malformed Lambda proxy
response`, 403 Missing Authentication Token, HTTP API 404 / 500, 504 Endpoint request timed out.
The front's port is ephemeral (--api-listen 127.0.0.1:0) and read from lemu's stderr line
`lemu: api gateway front on http://127.0.0.1:PORT`.
"""
import base64
import http.client
import json
import os
import re
import socket
import time
import uuid

import pytest

from conftest import sample
from lemu_testlib import UUID_RE, fn

REST_502_BODY = b'{"message": "Internal server error"}'
REST_500_BODY = b'{"message": "Internal server error"}'
REST_403_BODY = b'{"message":"Missing Authentication Token"}'
REST_504_BODY = b'{"message": "Endpoint request timed out"}'
HTTP_500_BODY = b'{"message":"Internal Server Error"}'
HTTP_404_BODY = b'{"message":"Not Found"}'
HTTP_503_BODY = b'{"message":"Service Unavailable"}'
MALFORMED_LINE = "Execution failed due to configuration error: Malformed Lambda proxy response"
FRONT_RE = re.compile(r"lemu: api gateway front on http://127\.0\.0\.1:(\d+)")
EXT_ID_RE = re.compile(r"^[A-Za-z0-9+/]{15}=$")  # "JKJaXmPLvHcESHA=" (Apigw-Requestid, x-amz-apigw-id)

# A handler that answers whatever proxy response the request body spells out, so one function can
# return every shape a test needs: {"response": <value>} returns value; {"none": true} returns None;
# {"sleep": s} sleeps first.
REFLECT_PY = '''
import json, time
def handler(event, context):
    spec = json.loads(event.get("body") or "{}")
    time.sleep(spec.get("sleep", 0))
    if spec.get("none"):
        return None
    return spec.get("response")
'''


def subdir(tmp_path, name):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    return d


def api(kind, path, method="get", **props):
    p = {"Path": path, "Method": method}
    p.update(props)
    return {"Type": kind, "Properties": p}


def py_api_fn(name, code_dir, events, handler="app.handler", timeout=10, **kw):
    return fn(name, os.path.realpath(str(code_dir)), handler=handler, runtime="python3.12",
              timeout=timeout, Events=events, **kw)


def node_api_fn(name, code_dir, events, timeout=10, **kw):
    return fn(name, os.path.realpath(str(code_dir)), handler="index.handler", runtime="nodejs20.x",
              timeout=timeout, Events=events, **kw)


def reflect_fn(tmp_path, name="reflect", events=None, **kw):
    code = tmp_path / ("code-" + name)
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text(REFLECT_PY)
    events = events or {"Rest": api("Api", "/rest/reflect", "post"),
                        "Http": api("HttpApi", "/http/reflect", "post")}
    return py_api_fn(name, code, events, **kw)


def sample_api_fns():
    """The four sample functions with their own Events (function.json)."""
    out = []
    for folder in ("api-python", "api-python-malformed", "api-node", "api-node-malformed"):
        with open(os.path.join(sample(folder), "function.json")) as f:
            spec = json.load(f)
        spec["CodeUri"] = os.path.realpath(sample(folder))
        out.append(spec)
    return out


class Front:
    """A lemu with an API Gateway front, and plain-HTTP requests to it."""

    def __init__(self, server, port):
        self.server = server
        self.port = port

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.msg, resp.read()
        finally:
            conn.close()

    def reflect(self, response=None, path="/rest/reflect", none=False, sleep=0):
        spec = {"response": response, "none": none, "sleep": sleep}
        return self.request("POST", path, json.dumps(spec), {"Content-Type": "application/json"})

    def log_line(self, text, request_id, timeout=5.0):
        return self.server.wait_for_line(lambda l: text in l and "(%s)" % request_id in l, timeout)


def start_front(make_lemu, tmp_path, functions, lemu=None, faults=None, args=()):
    config = {"Functions": functions}
    if lemu:
        config["Lemu"] = lemu
    if faults:
        config["Faults"] = faults
    server = make_lemu(config=config, args=["--api-listen", "127.0.0.1:0",
                                            "--state-dir", str(tmp_path / "state")] + list(args))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = FRONT_RE.search(server.stderr_text())
        if m:
            return Front(server, int(m.group(1)))
        time.sleep(0.02)
    raise AssertionError("no 'api gateway front on' line on stderr: %s" % server.stderr_text())


def assert_rest_502(front, status, headers, body):
    assert status == 502
    assert body == REST_502_BODY
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    rid = headers["x-amzn-RequestId"]
    assert UUID_RE.match(rid)
    assert EXT_ID_RE.match(headers["x-amz-apigw-id"])
    return rid


def assert_malformed_logged(front, rid):
    front.log_line(MALFORMED_LINE, rid)
    front.log_line("Method completed with status: 502", rid)


# ---------------------------------------------------------------------------------------------
# malformed responses → 502


@pytest.mark.parametrize("prefix", ["/py", "/node"])
@pytest.mark.parametrize("variant,logged_body", [
    ("none", "null"),
    ("body-not-string", None),
    ("no-status-code", None),
    ("extra-key", None),
    ("header-object", None),
    ("bad-base64", None),
])
def test_malformed_variant_is_502_with_aws_body_header_and_log(make_lemu, tmp_path, prefix, variant, logged_body):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request("GET", "%s/malformed/%s" % (prefix, variant))
    rid = assert_rest_502(front, status, headers, body)
    assert_malformed_logged(front, rid)
    if logged_body:
        front.log_line("Endpoint response body before transformations: " + logged_body, rid)
    # the function did run: START/END/REPORT for it, and nothing of it reached the client
    fn_name = "api-python-malformed" if prefix == "/py" else "api-node-malformed"
    front.server.wait_for_line(lambda l: l.startswith("[%s] REPORT RequestId:" % fn_name))


@pytest.mark.parametrize("path", ["/py/malformed/raise", "/node/malformed/throw"])
def test_function_error_is_502_and_logs_its_message(make_lemu, tmp_path, path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request("GET", path)
    rid = assert_rest_502(front, status, headers, body)
    line = front.log_line("Lambda execution failed with status 200 due to customer function error: "
                          "the handler failed before returning a response. Lambda request id: ", rid)
    lambda_rid = line.rstrip("\n").rsplit(" ", 1)[1]
    assert UUID_RE.match(lambda_rid) and lambda_rid != rid
    front.log_line("Method completed with status: 502", rid)


def test_malformed_on_http_api_is_500_and_inference_accepts_no_status_code(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    for path in ("/py/http/malformed/body-not-string", "/node/http/malformed/body-not-string",
                 "/py/http/malformed/raise", "/node/http/malformed/throw", "/py/http/malformed/bad-base64"):
        status, headers, body = front.request("GET", path)
        assert (status, body) == (500, HTTP_500_BODY), path
        assert headers["Content-Type"] == "application/json"
        assert EXT_ID_RE.match(headers["Apigw-Requestid"])
        assert "x-amzn-ErrorType" not in headers
    # HTTP API 2.0's inference: valid JSON without statusCode is 200, application/json, the JSON as body
    status, headers, body = front.request("GET", "/py/http/malformed/no-status-code")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"headers": {"Content-Type": "application/json"}, "body": '{"message": "ok"}'}
    status, headers, body = front.request("GET", "/node/http/malformed/none")
    assert (status, body) == (200, b"null")


def test_fault_malformed_proxy_response_each_variant_without_running_the_function(make_lemu, tmp_path):
    faults = [
        {"Function": "api-python", "Fault": "malformed-proxy-response", "When": {"Nth": [1]},
         "Params": {"Variant": "None"}},
        {"Function": "api-python", "Fault": "malformed-proxy-response", "When": {"Nth": [2]},
         "Params": {"Variant": "BodyNotString"}},
        {"Function": "api-python", "Fault": "malformed-proxy-response", "When": {"Nth": [3]},
         "Params": {"Variant": "MissingStatusCode"}},
        {"Function": "api-python", "Fault": "malformed-proxy-response", "When": {"Nth": [4]}},
    ]
    front = start_front(make_lemu, tmp_path, sample_api_fns(), faults=faults)
    logged = ["null", '{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":{"message":"ok"}}',
              '{"headers":{"Content-Type":"application/json"},"body":"{\\"message\\":\\"ok\\"}"}',
              '{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":{"message":"ok"}}']
    for expected_log in logged:
        status, headers, body = front.request("GET", "/py/items/1")
        rid = assert_rest_502(front, status, headers, body)
        assert_malformed_logged(front, rid)
        front.log_line("Endpoint response body before transformations: " + expected_log, rid)
    # the handler never ran for those four
    assert not any(l.startswith("[api-python] START") for l in front.server.lines())
    # the fifth request is not touched: the real, correct answer
    status, headers, body = front.request("GET", "/py/items/1")
    assert status == 200 and json.loads(body)["pathParameters"] == {"id": "1"}
    # the rules say they fired
    assert front.server.stderr_text().count("(malformed-proxy-response) fired for API Gateway request") == 4


def test_fault_variant_is_validated(tmp_path):
    faults = [{"Function": "*", "Fault": "malformed-proxy-response", "When": {"Always": True},
               "Params": {"Variant": "Nope"}}]
    r = run_lemu([], tmp_path, {"Functions": sample_api_fns(), "Faults": faults})
    assert r.returncode == 2
    assert b'Faults[0].Params.Variant: expected "BodyNotString", "None" or "MissingStatusCode"' in r.stderr, r.stderr


# ---------------------------------------------------------------------------------------------
# correct handlers


@pytest.mark.parametrize("path,sample_name,v2", [
    ("/py/items/42?status=201", "api-python", False),
    ("/py/http/items/42?status=201", "api-python", True),
    ("/node/items/42?status=201", "api-node", True),
    ("/node/rest/items/42?status=201", "api-node", False),
])
def test_correct_handler_status_headers_cookies_body(make_lemu, tmp_path, path, sample_name, v2):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request("GET", path)
    assert status == 201
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Sample"] == sample_name
    assert headers.get_all("Set-Cookie") == ["flavor=chocolate", "session=abc123; HttpOnly"]
    doc = json.loads(body)
    assert doc["pathParameters"] == {"id": "42"}
    assert doc["query"] == {"status": "201"}
    assert UUID_RE.match(doc["requestId"])
    if v2:
        assert EXT_ID_RE.match(headers["Apigw-Requestid"])
        assert "x-amzn-RequestId" not in headers
    else:
        assert UUID_RE.match(headers["x-amzn-RequestId"])
        assert EXT_ID_RE.match(headers["x-amz-apigw-id"])


def test_response_mapping_headers_multivalue_base64_and_remapping(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, [reflect_fn(tmp_path)])
    # headers and multiValueHeaders merged; for a name in both only multiValueHeaders counts
    status, headers, body = front.reflect({
        "statusCode": 418, "headers": {"X-One": "1", "X-Both": "from-headers", "X-Num": 5, "X-Bool": True},
        "multiValueHeaders": {"X-Both": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
        "body": "short and stout", "isBase64Encoded": False})
    assert (status, body) == (418, b"short and stout")
    assert headers["X-One"] == "1" and headers["X-Num"] == "5" and headers["X-Bool"] == "true"
    assert headers.get_all("X-Both") == ["m1", "m2"]
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["Content-Type"] == "application/json"  # API Gateway's default
    # base64 bodies are decoded; reserved headers are remapped, not passed on
    raw = bytes(range(256))
    status, headers, body = front.reflect({
        "statusCode": 200, "headers": {"Content-Type": "image/png", "Server": "mine", "Content-Length": "3"},
        "body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    assert (status, body) == (200, raw)
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Amzn-Remapped-Server"] == "mine"
    assert headers["X-Amzn-Remapped-Content-Length"] == "3"
    assert headers["Content-Length"] == "256"
    # a numeric string statusCode and an absent body
    status, headers, body = front.reflect({"statusCode": "204"})
    assert (status, body) == (204, b"")


def test_http_api_inference_and_cookies(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, [reflect_fn(tmp_path)])
    status, headers, body = front.reflect({"a": 1, "b": [True]}, path="/http/reflect")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"a": 1, "b": [True]}
    status, headers, body = front.reflect("plain words", path="/http/reflect")
    assert (status, body) == (200, b"plain words")
    status, headers, body = front.reflect({"statusCode": 202, "cookies": ["c1=v1", "c2=v2; Secure"],
                                           "headers": {"content-type": "text/plain"}, "body": "ok"},
                                          path="/http/reflect")
    assert (status, body) == (202, b"ok")
    assert headers.get_all("Set-Cookie") == ["c1=v1", "c2=v2; Secure"]
    assert headers["Content-Type"] == "text/plain"


# ---------------------------------------------------------------------------------------------
# binary bodies


@pytest.mark.parametrize("path", ["/py/binary", "/py/http/binary", "/node/binary"])
def test_binary_body_round_trip_base64(make_lemu, tmp_path, path):
    functions = sample_api_fns()
    for f in functions:
        if f["FunctionName"] == "api-python":
            f["Events"]["HttpBinary"] = api("HttpApi", "/py/http/binary", "post")
    front = start_front(make_lemu, tmp_path, functions)
    payload = bytes(range(256)) * 64 + b"\x00\xff\xfe not utf-8 \xc3\x28"
    status, headers, body = front.request("POST", path, payload, {"Content-Type": "application/octet-stream"})
    assert status == 200
    assert body == payload
    assert headers["Content-Type"] == "application/octet-stream"


def test_event_marks_binary_and_text_bodies(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    # text: passed as is
    status, headers, body = front.request("POST", "/py/echo?echo=event", '{"k": "vé"}'.encode(),
                                          {"Content-Type": "application/json"})
    event = json.loads(body)
    assert event["body"] == '{"k": "vé"}' and event["isBase64Encoded"] is False
    # bytes that are not UTF-8, even as text/plain, arrive base64 (checked via the round trip)
    status, headers, body = front.request("POST", "/py/echo", b"\xff\xfe\x00", {"Content-Type": "text/plain"})
    assert (status, body) == (200, b"\xff\xfe\x00")


# ---------------------------------------------------------------------------------------------
# the event: path parameters, query strings, headers, requestContext


def test_rest_event_payload_1_0(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request(
        "GET", "/py/items/abc-1?echo=event&color=red&color=blue&empty=",
        headers={"X-Custom": "one", "User-Agent": "lemu-test/1.0", "Cookie": "a=1; b=2"})
    assert status == 200
    ev = json.loads(body)
    assert list(ev)[:10] == ["resource", "path", "httpMethod", "headers", "multiValueHeaders",
                             "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                             "stageVariables", "requestContext"]
    assert ev["resource"] == "/py/items/{id}"
    assert ev["path"] == "/py/items/abc-1"
    assert ev["httpMethod"] == "GET"
    assert ev["pathParameters"] == {"id": "abc-1"}
    assert ev["queryStringParameters"] == {"echo": "event", "color": "blue", "empty": ""}
    assert ev["multiValueQueryStringParameters"] == {"echo": ["event"], "color": ["red", "blue"], "empty": [""]}
    assert ev["headers"]["X-Custom"] == "one"  # original case
    assert ev["multiValueHeaders"]["X-Custom"] == ["one"]
    assert ev["headers"]["Cookie"] == "a=1; b=2"
    assert ev["stageVariables"] is None
    assert ev["body"] is None and ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["requestId"] == headers["x-amzn-RequestId"]
    assert rc["extendedRequestId"] == headers["x-amz-apigw-id"]
    assert rc["stage"] == "Prod" and rc["httpMethod"] == "GET" and rc["resourcePath"] == "/py/items/{id}"
    assert rc["path"] == "/Prod/py/items/abc-1"
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and rc["identity"]["userAgent"] == "lemu-test/1.0"
    assert rc["accountId"] == "123456789012" and rc["protocol"] == "HTTP/1.1"
    assert re.match(r"^[a-z0-9]{10}$", rc["apiId"])
    assert rc["domainName"] == "%s.execute-api.us-east-1.amazonaws.com" % rc["apiId"]
    assert abs(rc["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", rc["requestTime"])


def test_rest_event_greedy_path_and_no_parameters(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request("DELETE", "/py/a/b/c.txt?echo=event")
    ev = json.loads(body)
    assert ev["resource"] == "/py/{proxy+}"
    assert ev["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert ev["httpMethod"] == "DELETE"
    # the root resource, a route without parameters and a request without a query string
    code = subdir(tmp_path, "event-code")
    (code / "app.py").write_text(
        "import json\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': json.dumps(event)}\n")
    sub = subdir(tmp_path, "plain")
    front2 = start_front(make_lemu, sub, [py_api_fn("plain", code, {"Root": api("Api", "/", "any")})])
    status, headers, body = front2.request("PATCH", "/")
    ev = json.loads(body)
    assert (ev["resource"], ev["path"], ev["httpMethod"]) == ("/", "/", "PATCH")
    assert ev["pathParameters"] is None
    assert ev["queryStringParameters"] is None and ev["multiValueQueryStringParameters"] is None


def test_http_event_payload_2_0(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request(
        "GET", "/node/items/7?echo=event&p1=v1&p1=v2&q=a%20b",
        headers={"X-Custom": "one", "User-Agent": "lemu-test/2.0", "Cookie": "c1=x; c2=y"})
    assert status == 200
    ev = json.loads(body)
    assert ev["version"] == "2.0"
    assert ev["routeKey"] == "GET /node/items/{id}"
    assert ev["rawPath"] == "/node/items/7"
    assert ev["rawQueryString"] == "echo=event&p1=v1&p1=v2&q=a%20b"
    assert ev["queryStringParameters"] == {"echo": "event", "p1": "v1,v2", "q": "a b"}
    assert ev["pathParameters"] == {"id": "7"}
    assert ev["cookies"] == ["c1=x", "c2=y"]
    assert ev["headers"]["x-custom"] == "one"  # lowercased
    assert "cookie" not in ev["headers"] and "multiValueHeaders" not in ev
    assert "body" not in ev and ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["requestId"] == headers["Apigw-Requestid"]
    assert rc["routeKey"] == "GET /node/items/{id}" and rc["stage"] == "$default"
    assert rc["http"] == {"method": "GET", "path": "/node/items/7", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "lemu-test/2.0"}
    assert rc["domainName"] == "%s.execute-api.us-east-1.amazonaws.com" % rc["apiId"]
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", rc["time"])
    # a body, and the $default route of an HttpApi event without Path/Method
    sub = subdir(tmp_path, "default")
    functions = [reflect_fn(sub, name="catchall", events={"All": {"Type": "HttpApi"}})]
    front2 = start_front(make_lemu, sub, functions)
    status, headers, body = front2.request("PUT", "/any/where", json.dumps(
        {"response": {"statusCode": 200, "body": "caught"}}), {"Content-Type": "application/json"})
    assert (status, body) == (200, b"caught")


def test_route_precedence(make_lemu, tmp_path):
    code = tmp_path / "echo-code"
    code.mkdir()
    (code / "app.py").write_text(
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': event['resource'] + ' ' + event['httpMethod']}\n")
    events = {"Literal": api("Api", "/r/special", "get"), "Param": api("Api", "/r/{id}", "get"),
              "Greedy": api("Api", "/r/{proxy+}", "any"), "AnyParam": api("Api", "/r/{id}", "any"),
              "Root": api("Api", "/", "get")}
    front = start_front(make_lemu, tmp_path, [py_api_fn("prec", code, events)])
    assert front.request("GET", "/r/special")[2] == b"/r/special GET"
    assert front.request("GET", "/r/other")[2] == b"/r/{id} GET"
    assert front.request("POST", "/r/other")[2] == b"/r/{id} POST"
    assert front.request("GET", "/r/a/b")[2] == b"/r/{proxy+} GET"
    assert front.request("GET", "/")[2] == b"/ GET"
    status, headers, body = front.request("GET", "/r")
    assert (status, body) == (403, REST_403_BODY)


# ---------------------------------------------------------------------------------------------
# no route


def test_no_route_rest_403_and_http_api_404(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    status, headers, body = front.request("GET", "/nothing/here")
    assert (status, body) == (403, REST_403_BODY)
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert UUID_RE.match(headers["x-amzn-RequestId"])
    # with a reflect function: a method the REST route does not take, then one the HTTP API
    # route does not take (the path is that API's, so the answer is that API's)
    sub = subdir(tmp_path, "methods")
    front2 = start_front(make_lemu, sub, [reflect_fn(sub)])
    status, headers, body = front2.request("GET", "/rest/reflect")
    assert (status, body) == (403, REST_403_BODY)
    status, headers, body = front2.request("GET", "/http/reflect")
    assert (status, body) == (404, HTTP_404_BODY)
    assert EXT_ID_RE.match(headers["Apigw-Requestid"])
    assert "x-amzn-ErrorType" not in headers
    # a front with only HTTP API routes answers 404 for everything unknown
    sub = subdir(tmp_path, "http-only")
    front3 = start_front(make_lemu, sub, [reflect_fn(sub, events={"Http": api("HttpApi", "/only", "get")})])
    status, headers, body = front3.request("GET", "/missing")
    assert (status, body) == (404, HTTP_404_BODY)


# ---------------------------------------------------------------------------------------------
# timeouts, errors, throttling


def test_integration_timeout_504_rest_and_503_http_api(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns(), lemu={"ApiTimeoutSeconds": 1})
    t0 = time.monotonic()
    status, headers, body = front.request("GET", "/py/items/1?sleep=3")
    elapsed = time.monotonic() - t0
    assert (status, body) == (504, REST_504_BODY)
    assert 0.9 <= elapsed < 2.5, elapsed
    assert headers["Content-Type"] == "application/json"
    rid = headers["x-amzn-RequestId"]
    front.log_line("Execution failed due to a timeout error", rid)
    front.log_line("Method completed with status: 504", rid)
    t0 = time.monotonic()
    status, headers, body = front.request("GET", "/node/items/1?sleep=3")
    assert (status, body) == (503, HTTP_503_BODY)
    assert time.monotonic() - t0 < 2.5
    # the function ran on after the gateway gave up, as on AWS, and lemu is fine afterwards
    front.server.wait_for_line(lambda l: l.startswith("[api-python] REPORT"), timeout=6)
    status, headers, body = front.request("GET", "/py/items/2")
    assert status == 200


def test_timeout_in_millis_per_event(make_lemu, tmp_path):
    functions = [reflect_fn(tmp_path, events={"Fast": api("Api", "/fast", "post", TimeoutInMillis=300)})]
    front = start_front(make_lemu, tmp_path, functions)
    t0 = time.monotonic()
    status, headers, body = front.reflect({"statusCode": 200, "body": "late"}, path="/fast", sleep=1.5)
    assert (status, body) == (504, REST_504_BODY)
    assert time.monotonic() - t0 < 1.2


def test_function_timeout_is_502(make_lemu, tmp_path):
    functions = [reflect_fn(tmp_path, timeout=1)]
    front = start_front(make_lemu, tmp_path, functions)
    status, headers, body = front.reflect({"statusCode": 200, "body": "never"}, sleep=3)
    rid = assert_rest_502(front, status, headers, body)
    front.log_line("due to customer function error: RequestId: ", rid)
    front.log_line("Task timed out after 1.00 seconds", rid)
    status, headers, body = front.reflect({"statusCode": 200, "body": "never"}, path="/http/reflect", sleep=3)
    assert (status, body) == (500, HTTP_500_BODY)


def test_throttled_invoke_is_500(make_lemu, tmp_path):
    functions = [reflect_fn(tmp_path, ReservedConcurrentExecutions=0)]
    front = start_front(make_lemu, tmp_path, functions)
    status, headers, body = front.reflect({"statusCode": 200, "body": "x"})
    assert (status, body) == (500, REST_500_BODY)
    assert headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    front.log_line("Lambda invocation failed with status: 429", headers["x-amzn-RequestId"])
    status, headers, body = front.reflect({"statusCode": 200, "body": "x"}, path="/http/reflect")
    assert (status, body) == (500, HTTP_500_BODY)


def test_throttle_fault_through_the_front_is_500(make_lemu, tmp_path):
    faults = [{"Function": "reflect", "Fault": "throttle", "When": {"Always": True}}]
    front = start_front(make_lemu, tmp_path, [reflect_fn(tmp_path)], faults=faults)
    status, headers, body = front.reflect({"statusCode": 200, "body": "x"})
    assert (status, body) == (500, REST_500_BODY)


# ---------------------------------------------------------------------------------------------
# hostile answers and requests never take lemu down


@pytest.mark.parametrize("response,none", [
    (None, True),
    ("a string", False),
    (42, False),
    ([1, 2], False),
    ({"statusCode": 200.5, "body": "x"}, False),
    ({"statusCode": 99, "body": "x"}, False),
    ({"statusCode": 700, "body": "x"}, False),
    ({"statusCode": "abc", "body": "x"}, False),
    ({"statusCode": 200, "body": 5}, False),
    ({"statusCode": 200, "body": ["x"]}, False),
    ({"statusCode": 200, "headers": "nope", "body": "x"}, False),
    ({"statusCode": 200, "headers": {"X": [1]}, "body": "x"}, False),
    ({"statusCode": 200, "headers": {"X": "a\r\nInjected: yes"}, "body": "x"}, False),
    ({"statusCode": 200, "headers": {"Bad Name": "v"}, "body": "x"}, False),
    ({"statusCode": 200, "headers": {"X-Big": "v" * 20000}, "body": "x"}, False),
    ({"statusCode": 200, "headers": {"X-%d" % i: "v" * 100 for i in range(200)}, "body": "x"}, False),
    ({"statusCode": 200, "multiValueHeaders": {"X": "not-a-list"}, "body": "x"}, False),
    ({"statusCode": 200, "multiValueHeaders": {"X": [{"o": 1}]}, "body": "x"}, False),
    ({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, False),
    ({"statusCode": 200, "body": "x", "isBase64Encoded": "yes"}, False),
    ({"statusCode": 200, "body": "x", "unexpected": 1}, False),
])
def test_hostile_responses_are_502_and_lemu_survives(make_lemu, tmp_path, response, none):
    front = start_front(make_lemu, tmp_path, [reflect_fn(tmp_path)])
    status, headers, body = front.reflect(response, none=none)
    rid = assert_rest_502(front, status, headers, body)
    assert_malformed_logged(front, rid)
    status, headers, body = front.reflect({"statusCode": 200, "body": "still here"})
    assert (status, body) == (200, b"still here")


def test_huge_body_and_unicode_response(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, [reflect_fn(tmp_path)])
    big = "é✓" * 300000
    status, headers, body = front.reflect({"statusCode": 200, "headers": {"X-Uni": "ok"}, "body": big})
    assert status == 200 and body.decode() == big


def test_hostile_requests(make_lemu, tmp_path):
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    # bytes that are not UTF-8 in the path, the query and a header: the event stays valid JSON
    s = socket.create_connection(("127.0.0.1", front.port), timeout=10)
    s.sendall(b"GET /py/items/%FF%FE?echo=event&k=%C3%28 HTTP/1.1\r\nHost: x\r\nX-Bin: \xff\xfe\r\n"
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    ev = json.loads(body)
    assert ev["pathParameters"]["id"] == "\ufffd\ufffd"
    # a client that leaves before the answer
    s = socket.create_connection(("127.0.0.1", front.port), timeout=10)
    s.sendall(b"GET /py/items/1?sleep=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
    # a body over API Gateway's 10 MB quota
    status, headers, body = front.request("POST", "/py/echo", b"x" * (10 * 1024 * 1024 + 1),
                                          {"Content-Type": "text/plain"})
    assert (status, body) == (413, b'{"message":"Request Too Long"}')
    # under the quota, but the event would be over Invoke's 6 MB: the Invoke fails, the gateway 500s
    status, headers, body = front.request("POST", "/py/echo", b"x" * (7 * 1024 * 1024),
                                          {"Content-Type": "text/plain"})
    assert (status, body) == (500, REST_500_BODY)
    front.log_line("Lambda invocation failed with status: 413", headers["x-amzn-RequestId"])
    time.sleep(0.7)
    assert front.request("GET", "/py/items/3")[0] == 200


def test_stop_while_requests_wait(make_lemu, tmp_path):
    import threading
    front = start_front(make_lemu, tmp_path, sample_api_fns())
    results = []

    def call(path):
        try:
            results.append(front.request("GET", path, timeout=10)[0])
        except (OSError, http.client.HTTPException) as e:
            results.append(type(e).__name__)

    threads = [threading.Thread(target=call, args=(p,)) for p in ("/py/items/1?sleep=5", "/node/items/1?sleep=5")]
    for t in threads:
        t.start()
    front.server.wait_for_line(lambda l: l.startswith("[api-node] START"), timeout=5)
    front.server.wait_for_line(lambda l: l.startswith("[api-python] START"), timeout=5)
    front.server.stop()  # asserts a clean exit (status 0, no sanitizer report)
    for t in threads:
        t.join(10)
    assert len(results) == 2
    for r in results:
        assert r in (500, 503) or isinstance(r, str), results


# ---------------------------------------------------------------------------------------------
# configuration and start-up


def test_samples_served_by_default_config(make_lemu, tmp_path):
    server = make_lemu(args=["--api-listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")])
    deadline = time.monotonic() + 5
    while not FRONT_RE.search(server.stderr_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    front = Front(server, int(FRONT_RE.search(server.stderr_text()).group(1)))
    assert front.request("GET", "/py/items/1")[0] == 200
    assert front.request("GET", "/node/items/1")[0] == 200
    assert front.request("GET", "/py/malformed/none")[0] == 502
    # the first stdout line stayed the Invoke URL, and Invoke still works
    assert server.url.startswith("http://127.0.0.1:")
    resp = server.client().invoke(FunctionName="echo", Payload=b'{"a":1}')
    assert resp["Payload"].read() == b'{"a":1}'


def test_no_front_without_api_events(make_lemu, tmp_path):
    server = make_lemu(config={"Functions": [fn("echo", sample("echo"))]},
                       args=["--api-listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")])
    time.sleep(0.3)
    assert "api gateway front" not in server.stderr_text()


def test_api_listen_from_config(make_lemu, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = make_lemu(config={"Functions": [reflect_fn(tmp_path)],
                               "Lemu": {"ApiListen": "127.0.0.1:%d" % port}},
                       args=["--state-dir", str(tmp_path / "state")])
    deadline = time.monotonic() + 5
    while "front on http://127.0.0.1:%d" % port not in server.stderr_text():
        assert time.monotonic() < deadline, server.stderr_text()
        time.sleep(0.02)
    status, headers, body = Front(server, port).reflect({"statusCode": 200, "body": "cfg"})
    assert (status, body) == (200, b"cfg")


def run_lemu(args, tmp_path, config=None):
    import subprocess
    from conftest import LEMU_BIN
    cmd = [LEMU_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    if config is not None:
        path = tmp_path / ("bad-%s.json" % uuid.uuid4().hex[:8])
        path.write_text(json.dumps(config))
        cmd += ["-c", str(path)]
    return subprocess.run(cmd + args, capture_output=True, timeout=20)


@pytest.mark.parametrize("events,message", [
    ([], "Functions[0].Events: expected an object of events"),
    ({"E": {"Type": "S3"}}, 'Functions[0].Events.E.Type: expected "Api" or "HttpApi"'),
    ({"E": {"Type": "Api"}}, "Functions[0].Events.E.Properties: expected an object with Path and Method"),
    ({"E": api("Api", "items", "get")}, 'Functions[0].Events.E.Properties.Path: expected a path such as'),
    ({"E": api("Api", "/a/{proxy+}/b", "get")}, "Functions[0].Events.E.Properties.Path: expected a path"),
    ({"E": api("Api", "/a/{x}/{x}", "get")}, "Functions[0].Events.E.Properties.Path: expected a path"),
    ({"E": api("Api", "/a", "fetch")}, "Functions[0].Events.E.Properties.Method: expected an HTTP method"),
    ({"E": api("Api", "/a", "get", Extra=1)}, "Functions[0].Events.E.Properties.Extra: unknown key"),
    ({"E": api("Api", "/a", "get", TimeoutInMillis=30000)},
     "Functions[0].Events.E.Properties.TimeoutInMillis: expected an integer from 50 to 29000"),
    ({"E": api("HttpApi", "/a", "get", PayloadFormatVersion="3.0")},
     'Functions[0].Events.E.Properties.PayloadFormatVersion: expected "1.0" or "2.0"'),
])
def test_bad_events_are_config_errors(tmp_path, events, message):
    config = {"Functions": [fn("f", sample("echo"), Events=events)]}
    r = run_lemu([], tmp_path, config)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr.decode(), r.stderr


def test_clashing_routes_and_bad_addresses(tmp_path):
    events = {"A": api("Api", "/x/{a}", "get"), "B": api("HttpApi", "/x/{b}", "get")}
    r = run_lemu([], tmp_path, {"Functions": [fn("f", sample("echo"), Events=events)]})
    assert r.returncode == 2 and b'the route "GET /x/{b}" is also f.Events.A' in r.stderr, r.stderr
    r = run_lemu(["--api-listen", "nonsense"], tmp_path)
    assert r.returncode == 2 and b"--api-listen: expected HOST:PORT" in r.stderr
    r = run_lemu([], tmp_path, {"Lemu": {"ApiTimeoutSeconds": 0}})
    assert r.returncode == 2 and b"Lemu.ApiTimeoutSeconds: expected a number of seconds" in r.stderr
    r = run_lemu([], tmp_path, {"Lemu": {"ApiListen": "3000"}})
    assert r.returncode == 2 and b"Lemu.ApiListen: expected" in r.stderr
    # an address given explicitly must be bound: lemu does not start without its front
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        config = {"Functions": [fn("f", sample("echo"), Events={"A": api("Api", "/x", "get")})]}
        r = run_lemu(["--api-listen", "127.0.0.1:%d" % port], tmp_path, config)
        assert r.returncode != 0 and b"cannot listen on 127.0.0.1:%d" % port in r.stderr, r.stderr
    finally:
        s.close()
