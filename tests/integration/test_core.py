"""Invoke API through unmodified boto3 and the AWS CLI: payloads, FunctionName forms, the
errors botocore must parse into the right exception class, limits, DryRun, concurrency.

Expected values are AWS's (../shared/lambda-reference.md §1, §10), never lemu's own output.
"""
import concurrent.futures
import http.client
import json
import re
import threading
import time

import pytest

from lemu_testlib import (INVOKE_LIMIT, assert_serving, aws_cli_major, exact_json, padded_json, request_id,
                          run_cli)

NOT_FOUND = "Function not found: arn:aws:lambda:us-east-1:123456789012:function:%s"
TOO_LARGE = "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
QUALIFIER_MISMATCH = "The derived qualifier from the function name does not match the specified qualifier."
BAD_JSON_PREFIX = ("Could not parse request body into json: Could not parse payload into json: "
                   "Unrecognized token 'abc'")


def http_invoke(port, name, body, headers=None, query="", timeout=30):
    """A raw Invoke with http.client, to see the exact status, headers and body on the wire."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        try:
            conn.request("POST", "/2015-03-31/functions/%s/invocations%s" % (name, query), body=body, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            pass  # lemu may answer (and close) before taking the whole body; read the answer anyway
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------
# payloads

def test_1mb_payload_echoed_byte_identical(lemu_default):
    payload = exact_json(1 << 20, seed=7)
    resp = lemu_default.client().invoke(FunctionName="echo", Payload=payload)
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in resp
    assert "LogResult" not in resp
    request_id(resp)
    body = resp["Payload"].read()
    assert len(body) == len(payload)
    assert body == payload
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-executed-version"] == "$LATEST"
    assert headers["content-type"].startswith("application/json")


def test_aws_cli_invoke_prints_status_and_writes_payload(lemu_default, tmp_path):
    # The README's command, with an inline raw JSON payload.
    out = tmp_path / "out.json"
    r = run_cli(lemu_default, ["lambda", "invoke", "--function-name", "echo", "--cli-binary-format",
                               "raw-in-base64-out", "--payload", '{"hello":"world"}', str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert out.read_bytes() == b'{"hello":"world"}'

    # 1 MB from a file (too big for argv), byte-identical.
    payload = exact_json(1 << 20, seed=11)
    src = tmp_path / "payload.json"
    src.write_bytes(payload)
    out2 = tmp_path / "out2.json"
    r = run_cli(lemu_default, ["lambda", "invoke", "--function-name", "echo", "--payload", "fileb://" + str(src),
                               str(out2)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert out2.read_bytes() == payload


def test_aws_cli_unknown_function(lemu_default, tmp_path):
    r = run_cli(lemu_default, ["lambda", "invoke", "--function-name", "nope", str(tmp_path / "o.json")], tmp_path)
    assert r.returncode == (254 if aws_cli_major() >= 2 else 255), (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    # The CLI adds "(reached max retries: N)" when it was told how many attempts to make.
    assert re.fullmatch(r"An error occurred \(ResourceNotFoundException\) when calling the Invoke operation"
                        r"(?: \(reached max retries: \d+\))?: " + re.escape(NOT_FOUND % "nope"),
                        r.stderr.strip()), r.stderr


def test_default_config_serves_echo_and_sleep(lemu_default):
    c = lemu_default.client()
    resp = c.invoke(FunctionName="echo", Payload=b'{"default":true}')
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["Payload"].read() == b'{"default":true}'
    resp = c.invoke(FunctionName="sleep", Payload=b"0")
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, resp["Payload"].read()
    assert resp["ExecutedVersion"] == "$LATEST"


# ---------------------------------------------------------------------------------------
# FunctionName forms

@pytest.mark.parametrize("kwargs", [
    {"FunctionName": "echo"},
    {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:echo"},
    {"FunctionName": "123456789012:function:echo"},
    {"FunctionName": "echo:$LATEST"},
    {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST"},
    {"FunctionName": "echo", "Qualifier": "$LATEST"},
    {"FunctionName": "echo:$LATEST", "Qualifier": "$LATEST"},
], ids=["name", "arn", "partial-arn", "name-qualified", "arn-qualified", "qualifier-param", "both-same"])
def test_function_name_forms(lemu_default, kwargs):
    payload = json.dumps({"form": kwargs}).encode()
    resp = lemu_default.client().invoke(Payload=payload, **kwargs)
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in resp
    assert resp["Payload"].read() == payload


def test_qualifier_mismatch_is_invalid_parameter(lemu_default):
    c = lemu_default.client()
    with pytest.raises(c.exceptions.InvalidParameterValueException) as ei:
        c.invoke(FunctionName="echo:$LATEST", Qualifier="1", Payload=b"{}")
    e = ei.value.response
    assert e["Error"]["Code"] == "InvalidParameterValueException"
    assert e["Error"]["Message"] == QUALIFIER_MISMATCH
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "InvalidParameterValueException"
    assert e.get("Type") == "User"
    assert e["ResponseMetadata"]["RequestId"]


# ---------------------------------------------------------------------------------------
# errors

def test_unknown_function_is_resource_not_found(lemu_default):
    c = lemu_default.client()
    with pytest.raises(c.exceptions.ResourceNotFoundException) as ei:
        c.invoke(FunctionName="nope", Payload=b"{}")
    e = ei.value.response
    assert e["Error"]["Code"] == "ResourceNotFoundException"
    assert e["Error"]["Message"] == NOT_FOUND % "nope"
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceNotFoundException"
    assert e["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("application/json")
    # botocore merges the modeled exception members (from the body) into the top level of
    # e.response: that is where the body's "Type" lands (checked against AWS's own bytes).
    assert e.get("Type") == "User"
    assert e["ResponseMetadata"]["RequestId"]

    # The same on the wire.
    status, headers, body = http_invoke(lemu_default.port, "nope", b"{}")
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert headers.get("x-amzn-requestid")
    assert json.loads(body) == {"Type": "User", "Message": NOT_FOUND % "nope"}


def test_unknown_function_message_carries_qualifier(lemu_default):
    c = lemu_default.client()
    with pytest.raises(c.exceptions.ResourceNotFoundException) as ei:
        c.invoke(FunctionName="nope", Qualifier="$LATEST", Payload=b"{}")
    assert ei.value.response["Error"]["Message"] == NOT_FOUND % "nope:$LATEST"
    with pytest.raises(c.exceptions.ResourceNotFoundException) as ei:
        c.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:nope", Payload=b"{}")
    assert ei.value.response["Error"]["Message"] == NOT_FOUND % "nope"


def test_non_json_payload_is_invalid_request_content(lemu_default):
    c = lemu_default.client()
    with pytest.raises(c.exceptions.InvalidRequestContentException) as ei:
        c.invoke(FunctionName="echo", Payload=b"abc")
    e = ei.value.response
    assert e["Error"]["Code"] == "InvalidRequestContentException"
    assert e["Error"]["Message"].startswith(BAD_JSON_PREFIX), e["Error"]["Message"]
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "InvalidRequestContentException"
    assert e.get("Type") == "User"
    assert_serving(lemu_default)


def test_payload_over_6mb_is_413(lemu_default):
    c = lemu_default.client()
    big = padded_json(7 * 1024 * 1024)
    with pytest.raises(c.exceptions.ClientError) as ei:
        c.invoke(FunctionName="echo", Payload=big)
    e = ei.value.response
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert e["Error"]["Code"] == "RequestEntityTooLargeException"
    assert e["Error"]["Message"] == TOO_LARGE
    assert e["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "RequestEntityTooLargeException"

    status, headers, body = http_invoke(lemu_default.port, "echo", big)
    assert status == 413
    assert headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert headers.get("x-amzn-requestid")
    assert headers["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert doc.get("Message", doc.get("message")) == TOO_LARGE, body
    assert_serving(lemu_default)


def test_payload_limit_boundary(lemu_default):
    """Exactly 6291456 bytes is accepted (and echoed); one byte more is refused."""
    c = lemu_default.client()
    at_limit = padded_json(INVOKE_LIMIT)
    resp = c.invoke(FunctionName="echo", Payload=at_limit)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["Payload"].read() == at_limit
    with pytest.raises(c.exceptions.ClientError) as ei:
        c.invoke(FunctionName="echo", Payload=padded_json(INVOKE_LIMIT + 1))
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert ei.value.response["Error"]["Message"] == TOO_LARGE


def test_declared_oversize_refused_without_reading_the_body(lemu_default):
    """Content-Length over the limit is answered from the headers alone: the 413 arrives
    although not one byte of the body was sent."""
    import socket
    s = socket.create_connection(("127.0.0.1", lemu_default.port), timeout=5)
    try:
        s.sendall(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 7340032\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 3
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert b"x-amzn-errortype: requestentitytoolargeexception" in data.lower(), data[:400]
    assert_serving(lemu_default)


def test_dry_run(lemu_default):
    c = lemu_default.client()
    resp = c.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b'{"x":1}')
    assert resp["StatusCode"] == 204
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    request_id(resp)
    assert resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    # DryRun still validates the function.
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="nope", InvocationType="DryRun")


def test_invalid_function_name_is_validation_error(lemu_default):
    c = lemu_default.client()
    with pytest.raises(c.exceptions.ClientError) as ei:
        c.invoke(FunctionName="bad name!", Payload=b"{}")
    e = ei.value.response
    assert e["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert e["Error"]["Code"] == "ValidationException"
    assert "functionName" in e["Error"]["Message"], e["Error"]["Message"]
    assert_serving(lemu_default)


# ---------------------------------------------------------------------------------------
# concurrency

def test_50_concurrent_invokes_each_get_their_own_payload(lemu_default):
    n = 50
    client = lemu_default.client(max_pool_connections=n)
    barrier = threading.Barrier(n, timeout=20)

    def one(i):
        payload = json.dumps({"i": i, "pad": "p%d-" % i * (i * 37 + 1)}).encode()
        barrier.wait()
        resp = client.invoke(FunctionName="echo", Payload=payload)
        return i, payload, resp["StatusCode"], resp.get("FunctionError"), resp["Payload"].read(), request_id(resp)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n), timeout=60))
    assert len(results) == n
    for i, payload, status, ferr, body, _ in results:
        assert status == 200, i
        assert ferr is None, (i, body)
        assert body == payload, "invoke %d got someone else's answer: %r" % (i, body[:80])
    assert len({r[5] for r in results}) == n, "request ids are not unique"
    assert_serving(lemu_default)
