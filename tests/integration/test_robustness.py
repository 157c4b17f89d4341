"""Bad input never crashes lemu: malformed HTTP, wrong methods and paths, invalid names,
oversized headers, half requests. Each answer that comes is AWS's JSON error shape (never an
HTML page), and afterwards lemu still serves echo. The fixture's stop() then checks for a clean
exit and no sanitizer report."""
import json
import socket
import time
import urllib.parse

import pytest

from lemu_testlib import assert_json_error, assert_serving, parse_response, raw_exchange


def req(method, path, body=b"", headers=None):
    h = {"Host": "127.0.0.1", "Content-Length": str(len(body)), "Content-Type": "application/json"}
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    return head.encode() + body


def test_wrong_method_on_invoke_path(lemu_default):
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        status, headers, body = parse_response(
            raw_exchange(lemu_default.port, req(method, "/2015-03-31/functions/echo/invocations")))
        assert_json_error(status, headers, body)
        assert status != 200
    assert_serving(lemu_default)


def test_unknown_paths_get_json_errors(lemu_default):
    for path in ("/", "/nope", "/2015-03-31", "/2015-03-31/functions/echo/nope",
                 "/2015-03-31/functions//invocations", "/2015-03-31/functions/echo/invocations/extra",
                 "/2015-03-31/functions/../../etc/passwd/invocations", "/%ff%fe", "/" + "a" * 5000):
        for method in ("GET", "POST"):
            data = raw_exchange(lemu_default.port, req(method, path, b"{}"))
            status, headers, body = parse_response(data)
            doc = assert_json_error(status, headers, body)
            assert status in (400, 403, 404, 405), (method, path, status, doc)
            assert not body.lstrip().startswith(b"<"), body[:200]
    assert_serving(lemu_default)


@pytest.mark.parametrize("name", ["bad name!", "e*cho", "echo:$LATEST:extra", "a" * 257,
                                  "arn:aws:lambda:us-east-1:123456789012:function:", "echo:bad qual"])
def test_invalid_function_name_is_400_validation(lemu_default, name):
    path = "/2015-03-31/functions/%s/invocations" % urllib.parse.quote(name, safe="")
    status, headers, body = parse_response(raw_exchange(lemu_default.port, req("POST", path, b"{}")))
    doc = assert_json_error(status, headers, body, expect_status=400)
    assert headers["x-amzn-errortype"] == "ValidationException", (headers, doc)
    msg = doc.get("message") or doc.get("Message")
    assert "functionName" in msg, msg
    assert_serving(lemu_default)


def test_invalid_qualifier_and_invocation_type(lemu_default):
    for path, extra in [
        ("/2015-03-31/functions/echo/invocations?Qualifier=bad%20q", {}),
        ("/2015-03-31/functions/echo/invocations", {"X-Amz-Invocation-Type": "Bogus"}),
        ("/2015-03-31/functions/echo/invocations", {"X-Amz-Log-Type": "Bogus"}),
        ("/2015-03-31/functions/echo/invocations", {"X-Amz-Client-Context": "%%%not base64%%%"}),
    ]:
        status, headers, body = parse_response(raw_exchange(lemu_default.port, req("POST", path, b"{}", extra)))
        assert_json_error(status, headers, body)
        assert 400 <= status < 500, (path, extra, status, body)
    assert_serving(lemu_default)


def test_malformed_http_does_not_crash(lemu_default):
    port = lemu_default.port
    garbage = [
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
        b"NOT-HTTP\r\n\r\n",
        b"GET\r\n\r\n",
        b"POST /2015-03-31/functions/echo/invocations HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nnonsense\r\n0\r\n\r\n",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"BREW /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ]
    for data in garbage:
        answer = raw_exchange(port, data, timeout=3)
        if answer.startswith(b"HTTP/1.1 2"):
            raise AssertionError("garbage %r got a success: %r" % (data, answer[:200]))
        assert_serving(lemu_default)


def test_huge_headers(lemu_default):
    port = lemu_default.port
    big = "v" * 200000
    answer = raw_exchange(port, req("POST", "/2015-03-31/functions/echo/invocations", b"{}", {"X-Big": big}),
                          timeout=5)
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
    many = {"X-H%d" % i: "x" * 50 for i in range(3000)}
    answer = raw_exchange(port, req("POST", "/2015-03-31/functions/echo/invocations", b"{}", many), timeout=5)
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
    assert_serving(lemu_default)


def test_half_requests_then_close(lemu_default):
    port = lemu_default.port
    partial = [
        b"POST /2015-03-31/functions/echo/invoc",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Le",
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"",
        b"POST /2015-03-31/functions/sleep/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
    ]
    for data in partial:
        raw_exchange(port, data, close_after_send=True)
    # A complete invoke whose caller goes away while the handler runs.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req("POST", "/2015-03-31/functions/sleep/invocations", b"1"))
    time.sleep(0.2)
    s.close()
    assert_serving(lemu_default)
    # That sleep's environment finishes and is reused normally.
    time.sleep(1.0)
    resp = lemu_default.client().invoke(FunctionName="sleep", Payload=b"0")
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp


def test_many_connections_opened_and_dropped(lemu_default):
    socks = []
    for _ in range(200):
        socks.append(socket.create_connection(("127.0.0.1", lemu_default.port), timeout=5))
    assert_serving(lemu_default)
    for s in socks:
        s.close()
    assert_serving(lemu_default)


def test_keep_alive_sequence_on_one_connection(lemu_default):
    """Several invokes, including an error, on one persistent connection."""
    s = socket.create_connection(("127.0.0.1", lemu_default.port), timeout=10)
    try:
        f = s.makefile("rb")
        for name, body, want in [("echo", b'{"n":1}', 200), ("nope", b"{}", 404), ("echo", b'{"n":2}', 200)]:
            s.sendall(req("POST", "/2015-03-31/functions/%s/invocations" % name, body))
            status_line = f.readline()
            assert status_line.startswith(b"HTTP/1.1 %d" % want), status_line
            length = None
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode().partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            assert length is not None
            got = f.read(length)
            if want == 200:
                assert got == body
            else:
                assert json.loads(got)["Message"].endswith(":function:nope")
    finally:
        s.close()
