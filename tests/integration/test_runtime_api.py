"""Runtime API 2018-06-01 as a custom runtime meets it: the /next headers, the environment
Lambda sets (reference §4, §4.1), and the Runtime API's own answers to misbehaving runtimes.

The runtime is a small Python bootstrap written into tmp_path (lemu_testlib.SCRIPTED_RUNTIME)
that reports what it saw, or performs the Runtime API requests its event lists and records the
answers in a file.
"""
import base64
import datetime
import json
import os
import re
import time

from lemu_testlib import (RESPONSE_LIMIT, SCRIPTED_RUNTIME, arn, assert_serving, echo_fn, fn,
                          request_id, wait_for_file, write_bootstrap)

TIMEOUT_S = 7
TRACE_RE = re.compile(r"^Root=1-([0-9a-f]{8})-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]$")
INVALID_ID = {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
WRONG_ID = "00000000-0000-4000-8000-000000000000"


def start_scripted(make_lemu, tmp_path, host_env=None, monkeypatch=None):
    """A server with `rt` (the scripted runtime, CodeUri relative to the config file) and echo."""
    code = tmp_path / "fn" / "rt"
    write_bootstrap(str(code), SCRIPTED_RUNTIME)
    results = tmp_path / "results"
    results.mkdir()
    if host_env and monkeypatch:
        for k, v in host_env.items():
            monkeypatch.setenv(k, v)
    config = {"Functions": [
        fn("rt", "fn/rt", timeout=TIMEOUT_S, memory=256, handler="my.handler",
           env={"RESULTS_DIR": str(results), "GREETING": "hello world", "EMPTY_LOOKING": "  x  "}),
        echo_fn(),
    ]}
    server = make_lemu(config)
    return server, os.path.realpath(str(code)), results


def invoke_report(client, **kw):
    t0 = time.time() * 1000
    resp = client.invoke(Payload=b'{"report": true}', **kw)
    t1 = time.time() * 1000
    assert resp["StatusCode"] == 200
    body = resp["Payload"].read()
    assert "FunctionError" not in resp, body
    return resp, json.loads(body), t0, t1


def run_steps(client, results_dir, steps, **kw):
    resp = client.invoke(FunctionName="rt", Payload=json.dumps({"steps": steps}).encode(), **kw)
    rid = request_id(resp)
    body = resp["Payload"].read()
    recorded = wait_for_file(os.path.join(str(results_dir), rid + ".json"))
    assert recorded["request_id"] == rid
    return resp, body, recorded["results"]


def error_doc(result):
    assert result["headers"].get("content-type", "").startswith("application/json"), result
    return json.loads(result["body"])


# ---------------------------------------------------------------------------------------
# /next headers

def test_next_headers(make_lemu, tmp_path):
    server, _, _ = start_scripted(make_lemu, tmp_path)
    c = server.client()

    resp, rep, t0, t1 = invoke_report(c, FunctionName="rt")
    rid = request_id(resp)
    nxt = rep["next"]
    h = nxt["headers"]
    assert nxt["status"] == 200
    assert h["lambda-runtime-aws-request-id"] == rid
    deadline = int(h["lambda-runtime-deadline-ms"])
    assert t0 + TIMEOUT_S * 1000 - 100 <= deadline <= t1 + TIMEOUT_S * 1000 + 100, (t0, deadline, t1)
    assert h["lambda-runtime-invoked-function-arn"] == arn("rt")
    m = TRACE_RE.match(h["lambda-runtime-trace-id"])
    assert m, h["lambda-runtime-trace-id"]
    assert abs(int(m.group(1), 16) - time.time()) < 300, "trace id Root time is not the request time"
    assert "lambda-runtime-client-context" not in h
    assert "lambda-runtime-cognito-identity" not in h
    assert h.get("content-type", "").startswith("application/json")
    assert nxt["body"] == '{"report": true}'

    # Invoked-Function-Arn is the ARN the caller used, with its qualifier; Client-Context is
    # passed decoded.
    ctx = {"client": {"installation_id": "i-1", "app_title": "lemu tests"}, "custom": {"k": "v"},
           "env": {"platform": "linux"}}
    resp2, rep2, _, _ = invoke_report(c, FunctionName=arn("rt"), Qualifier="$LATEST",
                                      ClientContext=base64.b64encode(json.dumps(ctx).encode()).decode())
    h2 = rep2["next"]["headers"]
    assert h2["lambda-runtime-invoked-function-arn"] == arn("rt", "$LATEST")
    assert json.loads(h2["lambda-runtime-client-context"]) == ctx
    assert h2["lambda-runtime-aws-request-id"] == request_id(resp2) != rid
    assert h2["lambda-runtime-trace-id"] != h["lambda-runtime-trace-id"]

    _, rep3, _, _ = invoke_report(c, FunctionName="rt:$LATEST")
    assert rep3["next"]["headers"]["lambda-runtime-invoked-function-arn"] == arn("rt", "$LATEST")
    _, rep4, _, _ = invoke_report(c, FunctionName="123456789012:function:rt")
    assert rep4["next"]["headers"]["lambda-runtime-invoked-function-arn"] == arn("rt")
    _, rep5, _, _ = invoke_report(c, FunctionName=arn("rt"))
    assert rep5["next"]["headers"]["lambda-runtime-invoked-function-arn"] == arn("rt")

    # Sequential invokes reuse the one warm environment.
    assert len({r["pid"] for r in (rep, rep2, rep3, rep4, rep5)}) == 1


def test_environment_variables(make_lemu, tmp_path):
    server, code_dir, _ = start_scripted(make_lemu, tmp_path)
    resp, rep, _, _ = invoke_report(server.client(), FunctionName="rt")
    env = rep["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "rt"
    assert env["_HANDLER"] == "my.handler"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert os.path.isabs(env["LAMBDA_TASK_ROOT"])
    assert os.path.realpath(env["LAMBDA_TASK_ROOT"]) == code_dir
    assert os.path.realpath(rep["cwd"]) == code_dir
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/rt"
    stream = env["AWS_LAMBDA_LOG_STREAM_NAME"]
    m = re.match(r"^(\d{4}/\d{2}/\d{2})/\[\$LATEST\][0-9a-f]{32}$", stream)
    assert m, stream
    now = datetime.datetime.now(datetime.timezone.utc)
    days = {(now + datetime.timedelta(days=d)).strftime("%Y/%m/%d") for d in (-1, 0, 1)}
    assert m.group(1) in days, "log stream date %s is not today (UTC)" % m.group(1)
    assert env["TZ"] in (":UTC", "UTC")
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert re.match(r"^127\.0\.0\.1:\d+$", env["AWS_LAMBDA_RUNTIME_API"]), env["AWS_LAMBDA_RUNTIME_API"]
    assert env["AWS_LAMBDA_RUNTIME_API"] != "127.0.0.1:%d" % server.port, "runtime API on the Invoke port"
    assert "AWS_EXECUTION_ENV" not in env, "provided runtimes have no AWS_EXECUTION_ENV"
    # The function's own Environment.Variables, verbatim.
    assert env["GREETING"] == "hello world"
    assert env["EMPTY_LOOKING"] == "  x  "
    assert env["RESULTS_DIR"] == str(tmp_path / "results")
    assert env.get("PATH"), "no PATH for the bootstrap"


def test_environment_does_not_inherit_lemus_own(make_lemu, tmp_path, monkeypatch):
    """Like Lambda, a function sees the variables Lambda sets and its own, not the host shell's
    (where a developer's AWS credentials or secrets would leak in and hide bugs)."""
    server, _, _ = start_scripted(make_lemu, tmp_path, monkeypatch=monkeypatch,
                                  host_env={"LEMU_TEST_HOST_ONLY": "leaked"})
    _, rep, _, _ = invoke_report(server.client(), FunctionName="rt")
    assert "LEMU_TEST_HOST_ONLY" not in rep["env"]


def test_handler_output_is_logged_with_the_function_name(make_lemu, tmp_path):
    server, _, _ = start_scripted(make_lemu, tmp_path)
    resp = server.client().invoke(FunctionName="rt", Payload=b'{"report": true}', LogType="Tail")
    rid = request_id(resp)
    server.wait_for_line(lambda l: l.rstrip("\n") == "[rt] stdout-marker " + rid)
    server.wait_for_line(lambda l: l.rstrip("\n") == "[rt] stderr-marker " + rid)
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "stdout-marker " + rid + "\n" in tail
    assert "stderr-marker " + rid + "\n" in tail


# ---------------------------------------------------------------------------------------
# the Runtime API's own errors

def test_wrong_request_id_and_second_response(make_lemu, tmp_path):
    server, _, results = start_scripted(make_lemu, tmp_path)
    steps = [
        {"path": "/runtime/invocation/%s/response" % WRONG_ID, "body": '{"wrong": true}',
         "headers": {"Content-Type": "application/json"}},
        {"path": "/runtime/invocation/%s/error" % WRONG_ID, "body": '{"errorType":"X.Y","errorMessage":"z"}',
         "headers": {"Lambda-Runtime-Function-Error-Type": "X.Y"}},
        {"path": "/runtime/invocation/{id}/response", "body": '{"ok": 1}',
         "headers": {"Content-Type": "application/json"}},
        {"path": "/runtime/invocation/{id}/response", "body": '{"again": 2}',
         "headers": {"Content-Type": "application/json"}},
        {"path": "/runtime/invocation/{id}/error", "body": '{"errorType":"X.Y","errorMessage":"late"}',
         "headers": {"Lambda-Runtime-Function-Error-Type": "X.Y"}},
    ]
    resp, body, res = run_steps(server.client(), results, steps)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert body == b'{"ok": 1}'
    # A second answer for the same invocation is a state-machine violation (the RIE's 403
    # InvalidStateTransition), not an unknown id.
    assert [r["status"] for r in res] == [400, 400, 202, 403, 403], res
    assert error_doc(res[0]) == INVALID_ID
    assert error_doc(res[1]) == INVALID_ID
    assert json.loads(res[2]["body"]) == {"status": "OK"}
    assert error_doc(res[3]) == {
        "errorType": "InvalidStateTransition",
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse "
                        "failed for runtime. Error: State transition is not allowed"}
    assert error_doc(res[4]) == {
        "errorType": "InvalidStateTransition",
        "errorMessage": "State transition from RuntimeResponseSentState to "
                        "InvocationErrorResponse failed for runtime. Error: State "
                        "transition is not allowed"}
    assert_serving(server)
    # The environment is still usable.
    _, rep, _, _ = invoke_report(server.client(), FunctionName="rt")
    assert rep["next"]["status"] == 200


def test_error_post_reaches_the_caller_byte_identical(make_lemu, tmp_path):
    server, _, results = start_scripted(make_lemu, tmp_path)
    err = '{"errorMessage":"kaput \\u00e9","errorType":"Custom.Oops","stackTrace":["a","b"]}'
    steps = [{"path": "/runtime/invocation/{id}/error", "body": err,
              "headers": {"Lambda-Runtime-Function-Error-Type": "Custom.Oops", "Content-Type": "application/json"}}]
    resp, body, res = run_steps(server.client(), results, steps)
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-function-error"] == "Unhandled"
    assert body == err.encode()
    assert res[0]["status"] == 202
    assert json.loads(res[0]["body"]) == {"status": "OK"}


def test_runtime_content_type_is_forwarded(make_lemu, tmp_path):
    server, _, results = start_scripted(make_lemu, tmp_path)
    steps = [{"path": "/runtime/invocation/{id}/response", "body": "plain words",
              "headers": {"Content-Type": "text/plain"}}]
    resp, body, res = run_steps(server.client(), results, steps)
    assert res[0]["status"] == 202
    assert body == b"plain words"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "text/plain"


def test_oversized_response(make_lemu, tmp_path):
    server, _, results = start_scripted(make_lemu, tmp_path)
    c = server.client()
    steps = [{"path": "/runtime/invocation/{id}/response", "body_size": RESPONSE_LIMIT + 1,
              "headers": {"Content-Type": "application/json"}}]
    resp, body, res = run_steps(c, results, steps)
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(body) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge"}
    assert res[0]["status"] == 413, res[0]
    assert error_doc(res[0]) == {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                                 "errorType": "RequestEntityTooLarge"}
    # The function goes on working.
    _, rep, _, _ = invoke_report(c, FunctionName="rt")
    assert rep["next"]["status"] == 200
    assert_serving(server)


def test_response_at_the_limit_passes(make_lemu, tmp_path):
    server, _, results = start_scripted(make_lemu, tmp_path)
    steps = [{"path": "/runtime/invocation/{id}/response", "body_size": RESPONSE_LIMIT,
              "headers": {"Content-Type": "application/json"}}]
    resp, body, res = run_steps(server.client(), results, steps)
    assert res[0]["status"] == 202, res[0]
    assert "FunctionError" not in resp, body[:300]
    assert len(body) == RESPONSE_LIMIT
    assert body == b'"' + b"r" * (RESPONSE_LIMIT - 2) + b'"'


# A runtime that hangs up while its GET /next is parked, then asks again on a new connection.
RECONNECTING_RUNTIME = r'''#!@PYTHON@
import os, socket, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)

def ask(sock, method, path, body=b""):
    sock.sendall(("%s /2018-06-01/runtime/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                  % (method, path, host, len(body))).encode() + body)

def answer(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers

def serve_one(sock, text):
    status, headers = answer(sock)
    assert status == 200, status
    ask(sock, "POST", "invocation/%s/response" % headers["lambda-runtime-aws-request-id"], text)
    answer(sock)

sock = socket.create_connection((host, int(port)))
ask(sock, "GET", "invocation/next")
serve_one(sock, b'"first"')
ask(sock, "GET", "invocation/next")  # parked: this environment is idle now
time.sleep(0.3)
sock.close()                         # ... and its runtime hangs up
time.sleep(0.3)
sock = socket.create_connection((host, int(port)))
while True:
    ask(sock, "GET", "invocation/next")
    serve_one(sock, b'"again"')
'''


def test_a_runtime_that_hangs_up_its_parked_next_gets_no_invocation(make_lemu, tmp_path):
    """A parked GET /next whose runtime hung up is dropped at once: the environment is not idle
    any more, the runtime's new GET /next parks normally, and the next invocation goes there
    (not into the dead connection, where it would wait for the function's timeout)."""
    write_bootstrap(str(tmp_path / "fn" / "redial"), RECONNECTING_RUNTIME)
    server = make_lemu({"Functions": [fn("redial", "fn/redial", timeout=3)]})
    c = server.client()
    first = c.invoke(FunctionName="redial")
    assert "FunctionError" not in first and json.loads(first["Payload"].read()) == "first"
    time.sleep(1.2)  # the runtime hangs up its parked /next and asks again
    second = c.invoke(FunctionName="redial")
    body = second["Payload"].read()
    assert "FunctionError" not in second, body
    assert json.loads(body) == "again", body  # the same environment, on its new connection


def test_headers_above_the_pool_are_refused_with_a_warning_that_says_why(make_lemu, tmp_path):
    """A known limit (docs/reliability.md): libmicrohttpd refuses a runtime request whose header
    fields do not fit lemu's 16 KB per-connection pool (431) before lemu sees it. lemu cannot
    answer it as Lambda would, but it says so on stderr, and the runtime's next request works."""
    server, _, results = start_scripted(make_lemu, tmp_path)
    err = '{"errorMessage":"deep","errorType":"RecursionError"}'
    headers = {"Lambda-Runtime-Function-Error-Type": "Unhandled", "Content-Type": "application/json"}
    big = dict(headers, **{"Lambda-Runtime-Function-XRay-Error-Cause": '{"x":"%s"}' % ("x" * 20000)})
    small = dict(headers, **{"Lambda-Runtime-Function-XRay-Error-Cause": '{"x":"%s"}' % ("x" * 2000)})
    steps = [{"path": "/runtime/invocation/{id}/error", "body": err, "headers": big},
             {"path": "/runtime/invocation/{id}/error", "body": err, "headers": small}]
    resp, body, res = run_steps(server.client(), results, steps)
    assert res[0]["status"] != 202, res[0]  # 431, or a reset while the rest was still being sent
    assert res[1]["status"] == 202, res[1]
    assert resp["FunctionError"] == "Unhandled" and body == err.encode()
    deadline = time.monotonic() + 5
    while "refused a request" not in server.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ("lemu: warning: the Runtime API refused a request whose header fields are larger than "
            "lemu's 16 KB per-connection limit (431 Request Header Fields Too Large; Lambda accepts up "
            "to 1 MB of headers): usually a runtime's Lambda-Runtime-Function-XRay-Error-Cause header") \
        in server.stderr_text()



# A runtime that sends POST /response and the next GET /next in one write (HTTP/1.1
# pipelining, as lemu's own runtimes and the echo bootstrap do) for its first three
# invocations, then waits for each 202 before asking for more (as awslambdaric does).
# Invocation n answers {"n": n, "seen": what the runtime saw of invocation n-1's exchange}.
PIPELINING_RUNTIME = r"""#!@PYTHON@
import json, os, socket, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
recvs = 0

def request(method, path, body=b""):
    return (("%s /2018-06-01/runtime/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
             % (method, path, host, len(body))).encode() + body)

def answer():
    global buf, recvs
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
        recvs += 1
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        buf += sock.recv(65536)
        recvs += 1
    body, buf = buf[:n], buf[n:]
    return int(lines[0].split()[1]), headers

sock.sendall(request("GET", "invocation/next"))
event = answer()[1]
n, seen = 0, None
while True:
    n += 1
    rid = event["lambda-runtime-aws-request-id"]
    result = request("POST", "invocation/%s/response" % rid, json.dumps({"n": n, "seen": seen}).encode())
    if n <= 3:
        sock.sendall(result + request("GET", "invocation/next"))
        recvs = 0
        accepted = answer()[0]
        status, event = answer()
        seen = {"statuses": [accepted, status], "recvs": recvs}
    else:
        t0 = time.monotonic()
        sock.sendall(result)
        accepted = answer()[0]
        seen = {"status": accepted, "ms": (time.monotonic() - t0) * 1000.0}
        sock.sendall(request("GET", "invocation/next"))
        event = answer()[1]
"""


def test_a_pipelining_runtime_gets_the_202_with_its_next_event(make_lemu, tmp_path):
    """A runtime that pipelines POST /response and GET /next gets the 202 and its next event in
    one segment (one recv(): one wake-up instead of two), in order; lemu learns that from the
    first such pair. A runtime that then waits for the 202 alone gets it at once, not after the
    kernel's 200 ms TCP_CORK ceiling (lemu stops holding it at the end of that MHD_run)."""
    write_bootstrap(str(tmp_path / "fn" / "pipe"), PIPELINING_RUNTIME)
    server = make_lemu({"Functions": [fn("pipe", "fn/pipe", timeout=5)]})
    c = server.client()
    answers = []
    for _ in range(5):
        resp = c.invoke(FunctionName="pipe")
        body = resp["Payload"].read()
        assert "FunctionError" not in resp, body
        answers.append(json.loads(body))
    assert [a["n"] for a in answers] == [1, 2, 3, 4, 5]
    assert answers[0]["seen"] is None
    for a in answers[1:4]:
        assert a["seen"]["statuses"] == [202, 200], a
    # the first pair taught lemu that this runtime pipelines; the next two came in one recv
    assert answers[2]["seen"]["recvs"] == 1, answers
    assert answers[3]["seen"]["recvs"] == 1, answers
    assert answers[4]["seen"]["status"] == 202, answers
    assert answers[4]["seen"]["ms"] < 150, answers  # the kernel would release it at 200 ms
