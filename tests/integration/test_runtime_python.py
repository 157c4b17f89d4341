"""`Runtime: python3.x` functions through unmodified boto3: lemu's Python runtime shim
(runtime-api/runtimes/python/bootstrap.py -> lemu_runtime.py) must answer like AWS's managed runtime (awslambdaric).

Expected texts are AWS's (../shared/lambda-reference.md §2.1, §3 and the seed troubleshooting
pages), never lemu's own output. Paths inside messages are the task root lemu gives the function,
so every CodeUri here is a real path (no symlinks) and the expected text uses the same path.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import textwrap

import pytest

import conftest
from conftest import sample
from lemu_testlib import arn, decode_tail, fn, request_id, start_as_nobody

RUNTIME = "python3.12"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
KEY_ORDER = ["errorMessage", "errorType", "requestId", "stackTrace"]


def py_fn(name, code_dir, handler="app.handler", **kw):
    return fn(name, os.path.realpath(str(code_dir)), handler=handler, runtime=RUNTIME, **kw)


def sample_fn(folder, **kw):
    with open(os.path.join(sample(folder), "function.json")) as f:
        spec = json.load(f)
    spec.update(kw)
    return py_fn(spec.pop("FunctionName"), sample(folder), handler=spec.pop("Handler"),
                 timeout=spec.pop("Timeout"), memory=spec.pop("MemorySize"),
                 **{k: v for k, v in spec.items() if k != "Runtime"})


def write_code(directory, files):
    """Write {relative path: source} under directory; returns its real path."""
    for rel, text in files.items():
        path = os.path.join(str(directory), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
    return os.path.realpath(str(directory))


def invoke(client, name, payload=b"{}", **kw):
    resp = client.invoke(FunctionName=name, Payload=payload, **kw)
    rid = request_id(resp)
    assert resp["StatusCode"] == 200
    return resp, rid, resp["Payload"].read()


def function_error(resp, body):
    """The error document of a failed invoke, checking the header and AWS's key order."""
    assert resp.get("FunctionError") == "Unhandled", (resp.get("FunctionError"), body)
    doc = json.loads(body)
    assert list(doc) == KEY_ORDER, "keys %r, AWS sends %r" % (list(doc), KEY_ORDER)
    return doc


def init_error(message, error_type, trace=()):
    """An init error as the caller sees it: requestId is "" (awslambdaric's make_error)."""
    return {"errorMessage": message, "errorType": error_type, "requestId": "",
            "stackTrace": list(trace)}


# ---------------------------------------------------------------------------------------
# success, output, context

def test_echo_sample_and_print_in_tail(make_lemu):
    server = make_lemu({"Functions": [sample_fn("echo-python")]})
    c = server.client()
    event = {"a": 1, "text": "h\u00e9llo \u2713", "nested": {"list": [1, 2.5, None, True]}}
    resp, rid, body = invoke(c, "echo-python", json.dumps(event).encode(), LogType="Tail")
    assert "FunctionError" not in resp, body
    assert json.loads(body) == event
    # python3.12+ keeps non-ASCII characters as UTF-8 (awslambdaric: ensure_ascii=False).
    assert "h\u00e9llo \u2713".encode() in body
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("application/json")
    tail = decode_tail(resp)
    assert "\necho-python %s\n" % rid in tail, tail
    server.wait_for_line(lambda l: l.rstrip("\n") == "[echo-python] echo-python %s" % rid)


def test_logging_and_print_lines_carry_the_request_id(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        import logging, sys
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)

        def handler(event, context):
            print("printed line")
            logger.info("info %s", "line")
            logging.warning("warn line")
            sys.stderr.write("stderr line\\n")
            return "ok"
    '''})
    server = make_lemu({"Functions": [py_fn("logs", code)]})
    resp, rid, body = invoke(server.client(), "logs", LogType="Tail")
    assert body == b'"ok"'
    lines = decode_tail(resp).split("\n")
    assert "printed line" in lines
    assert "stderr line" in lines
    info = [l for l in lines if l.startswith("[INFO]")]
    warn = [l for l in lines if l.startswith("[WARNING]")]
    assert len(info) == 1 and re.match(r"^\[INFO\]\t%s\t%s\tinfo line$" % (ISO_MS, rid), info[0]), lines
    assert len(warn) == 1 and re.match(r"^\[WARNING\]\t%s\t%s\twarn line$" % (ISO_MS, rid), warn[0]), lines


def test_print_output_and_an_exception_inside_print(make_lemu, tmp_path):
    """print() as the built-in writes it (separators, end, file, non-str arguments, UTF-8, a line
    finished by a later print), and an exception raised inside print (a __str__ that raises)
    keeps what was written before it and a stack trace of user frames only."""
    code = write_code(tmp_path / "code", {"app.py": '''
        import sys

        class Loud:
            def __str__(self):
                raise ValueError("no text for you")

        def handler(event, context):
            print("joined", 1, 2.5, None, True, sep="|", end="!\\n")
            print("to stderr", 7, file=sys.stderr)
            print("caf\\u00e9", "\\u2713")
            print("no newline", end="")
            print(" continued", flush=True)
            print(["a", 1], {"k": None})
            if event.get("raise"):
                print("before", Loud(), "after")
            return repr(print)
    '''})
    server = make_lemu({"Functions": [py_fn("prints", code)]})
    c = server.client()
    resp, rid, body = invoke(c, "prints", LogType="Tail")
    assert json.loads(body) == "<built-in function print>"
    lines = decode_tail(resp).split("\n")
    for expected in ("joined|1|2.5|None|True!", "to stderr 7", "caf\u00e9 \u2713", "no newline continued",
                     "['a', 1] {'k': None}"):
        assert expected in lines, (expected, lines)
    resp, rid, body = invoke(c, "prints", b'{"raise": true}', LogType="Tail")
    app = os.path.join(code, "app.py")
    assert function_error(resp, body) == {
        "errorMessage": "no text for you", "errorType": "ValueError", "requestId": rid,
        "stackTrace": ['  File "%s", line 15, in handler\n    print("before", Loud(), "after")\n' % app,
                       '  File "%s", line 5, in __str__\n    raise ValueError("no text for you")\n' % app]}
    assert "\nbefore [ERROR] ValueError: no text for you\rTraceback (most recent call last):\r" in decode_tail(resp)


def test_large_event_and_response_round_trip(make_lemu):
    """An event and a response of ~1 MB (many reads of the Runtime API socket) come back whole."""
    server = make_lemu({"Functions": [sample_fn("echo-python")]})
    event = {"blob": "x" * (1 << 20), "text": "h\u00e9llo"}
    resp, rid, body = invoke(server.client(), "echo-python", json.dumps(event).encode())
    assert "FunctionError" not in resp, body[:200]
    assert json.loads(body) == event


def test_trace_id_is_set_per_invoke(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        import os

        def handler(event, context):
            return os.environ.get("_X_AMZN_TRACE_ID")
    '''})
    server = make_lemu({"Functions": [py_fn("trace", code)]})
    c = server.client()
    first = json.loads(invoke(c, "trace")[2])
    second = json.loads(invoke(c, "trace")[2])
    assert re.match(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};", first), first
    assert re.match(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};", second), second
    assert first != second


def test_context_object(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        import os, time

        def handler(event, context):
            before = context.get_remaining_time_in_millis()
            now_ms = int(time.time() * 1000)
            time.sleep(0.2)
            after = context.get_remaining_time_in_millis()
            cc = context.client_context
            return {
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "identity": [context.identity.cognito_identity_id,
                             context.identity.cognito_identity_pool_id],
                "client_context": None if cc is None else
                    {"custom": cc.custom, "env": cc.env,
                     "app_title": cc.client and cc.client.app_title},
                "before": before, "after": after, "now_ms": now_ms,
                "deadline_ms": context._epoch_deadline_time_in_ms,
                "env": {k: os.environ.get(k) for k in (
                    "AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV",
                    "AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID")},
                "cwd": os.getcwd(),
            }
    '''})
    server = make_lemu({"Functions": [py_fn("ctx", code, timeout=5, memory=256)]})
    c = server.client()
    invoke(c, "ctx")  # cold start first: the measured invoke below is warm
    resp, rid, body = invoke(c, "ctx")
    assert "FunctionError" not in resp, body
    got = json.loads(body)
    assert got["aws_request_id"] == rid
    assert got["function_name"] == "ctx"
    assert got["function_version"] == "$LATEST"
    assert got["invoked_function_arn"] == arn("ctx")
    # awslambdaric reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE and leaves it a string.
    assert got["memory_limit_in_mb"] == "256"
    assert got["log_group_name"] == "/aws/lambda/ctx"
    assert re.match(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$", got["log_stream_name"]), got
    assert got["identity"] == [None, None]
    assert got["client_context"] is None
    # get_remaining_time_in_millis: the deadline header minus now, so Timeout*1000 at the start
    # (within 50 ms), decreasing by the 200 ms the handler slept.
    assert 5000 - 50 <= got["before"] <= 5000, got["before"]
    assert abs(got["now_ms"] + got["before"] - got["deadline_ms"]) <= 50
    assert 150 <= got["before"] - got["after"] <= 400, (got["before"], got["after"])
    assert got["env"]["_HANDLER"] == "app.handler"
    assert got["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert got["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "ctx"
    assert re.match(r"^127\.0\.0\.1:\d+$", got["env"]["AWS_LAMBDA_RUNTIME_API"])
    assert os.path.realpath(got["env"]["LAMBDA_TASK_ROOT"]) == code
    assert os.path.realpath(got["cwd"]) == code


def test_context_client_context(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        def handler(event, context):
            cc = context.client_context
            return None if cc is None else {"custom": cc.custom, "env": cc.env,
                                            "app_title": cc.client.app_title}
    '''})
    server = make_lemu({"Functions": [py_fn("cc", code)]})
    client_context = {"custom": {"k": "v"}, "env": {"platform": "test"}, "client": {"app_title": "lemu"}}
    resp, rid, body = invoke(server.client(), "cc",
                             ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode())
    assert "FunctionError" not in resp, body
    assert json.loads(body) == {"custom": {"k": "v"}, "env": {"platform": "test"}, "app_title": "lemu"}


def test_handler_in_subdirectory(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"dir/sub/file.py": '''
        def func(event, context):
            return {"from": __name__, "event": event}
    '''})
    server = make_lemu({"Functions": [py_fn("deep", code, handler="dir/sub/file.func")]})
    resp, rid, body = invoke(server.client(), "deep", b'{"x": 1}')
    assert "FunctionError" not in resp, body
    assert json.loads(body) == {"from": "dir.sub.file", "event": {"x": 1}}


def test_warm_reuse_then_fresh_environment_after_timeout(make_lemu):
    server = make_lemu({"Functions": [sample_fn("timeout-python")]})
    c = server.client()
    for expected in (1, 2):
        resp, rid, body = invoke(c, "timeout-python", b'{"seconds": 0}')
        assert "FunctionError" not in resp, body
        assert json.loads(body)["invocations"] == expected, "module state was not kept warm"
    resp, rid, body = invoke(c, "timeout-python", b'{"seconds": 5}')
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorType": "Sandbox.Timedout",
                                "errorMessage": "RequestId: %s Error: Task timed out after 1.00 seconds" % rid}
    resp, rid, body = invoke(c, "timeout-python", b'{"seconds": 0}')
    assert "FunctionError" not in resp, body
    assert json.loads(body)["invocations"] == 1, "the environment after a timeout is not fresh"


# ---------------------------------------------------------------------------------------
# errors in the handler

def test_exception_in_handler(make_lemu):
    server = make_lemu({"Functions": [sample_fn("throw-python")]})
    resp, rid, body = invoke(server.client(), "throw-python", LogType="Tail")
    doc = function_error(resp, body)
    app = os.path.join(sample("throw-python"), "app.py")
    assert doc == {
        "errorMessage": "division by zero",
        "errorType": "ZeroDivisionError",
        "requestId": rid,
        "stackTrace": ['  File "%s", line 8, in handler\n    return 1 / 0\n' % app],
    }
    # The runtime's log: output before the error, then one [ERROR] event (parts joined by CR,
    # indentation as no-break spaces).
    tail = decode_tail(resp)
    assert "\nabout to divide by zero\n" in tail
    expected_log = ("[ERROR] ZeroDivisionError: division by zero\rTraceback (most recent call last):\r"
                    "\u00a0\u00a0File \"%s\", line 8, in handler\r\u00a0\u00a0\u00a0\u00a0return 1 / 0\n" % app)
    assert expected_log in tail, tail


def test_custom_exception_class_is_the_error_type(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        class OrderNotFound(Exception):
            pass

        def handler(event, context):
            raise OrderNotFound("order 42 does not exist")
    '''})
    server = make_lemu({"Functions": [py_fn("custom", code)]})
    resp, rid, body = invoke(server.client(), "custom")
    doc = function_error(resp, body)
    assert doc["errorType"] == "OrderNotFound"
    assert doc["errorMessage"] == "order 42 does not exist"
    assert doc["requestId"] == rid
    assert doc["stackTrace"] == [
        '  File "%s/app.py", line 5, in handler\n    raise OrderNotFound("order 42 does not exist")\n' % code]


def test_marshal_error_and_json_encoding(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        import decimal

        def handler(event, context):
            if event == "set":
                return {1, 2}
            return {"price": decimal.Decimal("1.10"), "nan": float("nan")}
    '''})
    server = make_lemu({"Functions": [py_fn("marshal", code)]})
    c = server.client()
    resp, rid, body = invoke(c, "marshal", b'"set"')
    assert function_error(resp, body) == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError", "requestId": rid, "stackTrace": []}
    # Decimal (as boto3's DynamoDB layer returns) is a JSON number; NaN is allowed, as on AWS.
    resp, rid, body = invoke(c, "marshal", b'"other"')
    assert "FunctionError" not in resp, body
    assert body == b'{"price": 1.10, "nan": NaN}'


# ---------------------------------------------------------------------------------------
# errors at init: posted to /runtime/init/error, returned to the caller, retried next invoke

def test_import_error_sample(make_lemu):
    server = make_lemu({"Functions": [sample_fn("import-error-python")]})
    c = server.client()
    for _ in range(2):  # init runs again on the next invoke and fails the same way
        resp, rid, body = invoke(c, "import-error-python")
        assert function_error(resp, body) == init_error(
            "Unable to import module 'function': No module named 'function'", "Runtime.ImportModuleError")
    # The runtime's own log of the failure (written during init, so in lemu's log, not
    # necessarily in the invoke's Tail).
    server.wait_for_line(lambda l: l.rstrip("\n") == (
        "[import-error-python] [ERROR] Runtime.ImportModuleError: Unable to import module 'function': "
        "No module named 'function'\rTraceback (most recent call last):"))


def test_handler_missing_sample(make_lemu):
    server = make_lemu({"Functions": [sample_fn("handler-missing-python")]})
    resp, rid, body = invoke(server.client(), "handler-missing-python")
    assert function_error(resp, body) == init_error(
        "Handler 'handler' missing on module 'function'", "Runtime.HandlerNotFound")


def test_malformed_handler_name(make_lemu):
    server = make_lemu({"Functions": [py_fn("bad", sample("echo-python"), handler="app")]})
    resp, rid, body = invoke(server.client(), "bad")
    assert function_error(resp, body) == init_error(
        "Bad handler 'app': not enough values to unpack (expected 2, got 1)",
        "Runtime.MalformedHandlerName")


def test_missing_module_in_subdirectory(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"dir/other.py": "x = 1\n"})
    server = make_lemu({"Functions": [py_fn("nosub", code, handler="dir/sub/file.func")]})
    resp, rid, body = invoke(server.client(), "nosub")
    assert function_error(resp, body) == init_error(
        "Unable to import module 'dir/sub/file': No module named 'dir.sub'", "Runtime.ImportModuleError")


def test_syntax_error(make_lemu, tmp_path):
    source = "def handler(event, context):\n    return {'a': 1\n"
    code = write_code(tmp_path / "code", {"app.py": source})
    path = os.path.join(code, "app.py")
    # The exact SyntaxError text belongs to the interpreter lemu runs (python3 on PATH).
    probe = subprocess.run(
        [shutil.which("python3"), "-c",
         "import json,sys\ntry:\n compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')\n"
         "except SyntaxError as e:\n print(json.dumps([str(e), e.filename, e.lineno, e.text]))", path],
        capture_output=True, text=True, timeout=30)
    msg, filename, lineno, text = json.loads(probe.stdout)
    server = make_lemu({"Functions": [py_fn("syntax", code)]})
    resp, rid, body = invoke(server.client(), "syntax")
    assert function_error(resp, body) == init_error(
        "Syntax error in module 'app': %s" % msg, "Runtime.UserCodeSyntaxError",
        ['  File "%s" Line %s\n    %s' % (filename, lineno, text)])


def test_exception_at_import_is_an_init_error(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"app.py": '''
        import os
        raise KeyError("TABLE_NAME")

        def handler(event, context):
            return 1
    '''})
    server = make_lemu({"Functions": [py_fn("initfail", code)]})
    resp, rid, body = invoke(server.client(), "initfail")
    doc = function_error(resp, body)
    assert doc["errorType"] == "KeyError"
    assert doc["errorMessage"] == "'TABLE_NAME'"
    assert doc["requestId"] == ""
    # The trace starts in importlib (the runtime's own frames are cut) and ends in user code.
    assert "importlib" in doc["stackTrace"][0], doc["stackTrace"]
    assert doc["stackTrace"][-1] == '  File "%s/app.py", line 2, in <module>\n    raise KeyError("TABLE_NAME")\n' % code
    server.wait_for_line(lambda l: l.startswith(
        "[initfail] [ERROR] KeyError: 'TABLE_NAME'\rTraceback (most recent call last):\r"))


def test_unreadable_handler_file(make_lemu, tmp_path):
    """SEED: `[Errno 13] Permission denied: '/var/task/function.py'` (errorType PermissionError,
    unwrapped: awslambdaric only wraps ImportError). Root reads any file whatever its mode, so as
    root lemu itself is run as user nobody (setpriv) from a world-readable directory."""
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        pytest.skip("running as root, where chmod 000 does not stop reads, and no setpriv to drop to nobody")
    base = tempfile.mkdtemp(prefix="lemu-perm-", dir="/tmp") if as_root else str(tmp_path)
    try:
        os.chmod(base, 0o755)
        code = write_code(os.path.join(base, "code"), {"function.py": "def handler(e, c):\n    return 1\n"})
        os.chmod(code, 0o755)
        os.chmod(os.path.join(code, "function.py"), 0)
        config = {"Functions": [py_fn("perm", code, handler="function.handler")]}
        if as_root:
            server = start_as_nobody(base, config)
        else:
            server = make_lemu(config)
        try:
            resp, rid, body = invoke(server.client(), "perm")
            doc = function_error(resp, body)
            assert doc["errorType"] == "PermissionError"
            assert doc["errorMessage"] == "[Errno 13] Permission denied: '%s/function.py'" % code
            assert doc["requestId"] == ""
        finally:
            if as_root:
                server.stop()
    finally:
        if as_root:
            shutil.rmtree(base, ignore_errors=True)
