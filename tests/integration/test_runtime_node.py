"""`Runtime: nodejs20.x` functions through unmodified boto3: lemu's Node.js runtime shim
(runtime-api/runtimes/node/bootstrap.js) must answer like AWS's managed runtime
(aws-lambda-nodejs-runtime-interface-client).

Expected texts are AWS's (../shared/lambda-reference.md §2.2, §3 and the seed troubleshooting
pages), never lemu's own output. Paths inside messages are the task root lemu gives the function
(every CodeUri here is a real path) and, for `Require stack:`, the runtime's own entry file (AWS:
/var/runtime/index.mjs; lemu: runtime-api/runtimes/node/bootstrap.js).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import time

import pytest

import conftest
from conftest import sample
from lemu_testlib import arn, decode_tail, fn, request_id, start_as_nobody

RUNTIME = "nodejs20.x"
ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
KEY_ORDER = ["errorType", "errorMessage", "trace"]
NODE_BOOTSTRAP = os.path.realpath(os.path.join(conftest.REPO, "runtime-api", "runtimes", "node", "bootstrap.js"))
NODEJS_EXIT = ("The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly "
               "caused by a Promise that was never settled. For more information, see "
               "https://nodejs.org/docs/latest/api/process.html#exit-codes")


def node_fn(name, code_dir, handler="index.handler", **kw):
    return fn(name, os.path.realpath(str(code_dir)), handler=handler, runtime=RUNTIME, **kw)


def sample_fn(folder):
    with open(os.path.join(sample(folder), "function.json")) as f:
        spec = json.load(f)
    return node_fn(spec["FunctionName"], sample(folder), handler=spec["Handler"],
                   timeout=spec["Timeout"], memory=spec["MemorySize"])


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


def runtime_error(doc, error_type, message):
    """A Runtime.* error: the exact type and message, and a trace that starts `<type>: <message>`."""
    assert doc["errorType"] == error_type, doc
    assert doc["errorMessage"] == message, doc
    assert doc["trace"][:len(message.split("\n"))] == ("%s: %s" % (error_type, message)).split("\n"), doc


# ---------------------------------------------------------------------------------------
# success, output, context

def test_echo_sample_esm_and_console_line_in_tail(make_lemu):
    server = make_lemu({"Functions": [sample_fn("echo-node")]})
    c = server.client()
    payload = json.dumps({"a": 1, "text": "h\u00e9llo \u2713", "list": [1, 2.5, None, True]},
                         ensure_ascii=False, separators=(",", ":")).encode()
    resp, rid, body = invoke(c, "echo-node", payload, LogType="Tail")
    assert "FunctionError" not in resp, body
    assert body == payload  # JSON.stringify of the parsed event gives back the compact bytes
    lines = decode_tail(resp).split("\n")
    want = [l for l in lines if re.match(r"^%s\t%s\tINFO\techo-node %s$" % (ISO_MS, rid, rid), l)]
    assert len(want) == 1, lines
    server.wait_for_line(lambda l: l.rstrip("\n") == "[echo-node] " + want[0])


def test_console_levels_and_multiline(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": r'''
        exports.handler = async () => {
          console.log('log %s', 'line', {a: 1});
          console.info('info line');
          console.warn('warn line');
          console.error('error line');
          console.debug('debug line');
          console.log('first\nsecond');
          process.stdout.write('raw stdout\n');
          return 'ok';
        };
    '''})
    server = make_lemu({"Functions": [node_fn("logs", code)]})
    resp, rid, body = invoke(server.client(), "logs", LogType="Tail")
    assert body == b'"ok"'
    lines = decode_tail(resp).split("\n")
    for level, message in [("INFO", "log line { a: 1 }"), ("INFO", "info line"), ("WARN", "warn line"),
                           ("ERROR", "error line"), ("DEBUG", "debug line"),
                           ("INFO", "first\rsecond")]:
        pattern = r"^%s\t%s\t%s\t%s$" % (ISO_MS, rid, level, re.escape(message))
        assert [l for l in lines if re.match(pattern, l)], "no %r line in %r" % (pattern, lines)
    assert "raw stdout" in lines


def test_context_object(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.handler = async (event, context) => {
          const before = context.getRemainingTimeInMillis();
          await new Promise((r) => setTimeout(r, 200));
          const after = context.getRemainingTimeInMillis();
          return {
            awsRequestId: context.awsRequestId,
            functionName: context.functionName,
            functionVersion: context.functionVersion,
            invokedFunctionArn: context.invokedFunctionArn,
            memoryLimitInMB: context.memoryLimitInMB,
            logGroupName: context.logGroupName,
            logStreamName: context.logStreamName,
            callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
            hasIdentity: 'identity' in context, identity: context.identity === undefined ? null : context.identity,
            clientContext: context.clientContext === undefined ? null : context.clientContext,
            kinds: [typeof context.done, typeof context.succeed, typeof context.fail],
            before, after,
            env: {
              handler: process.env._HANDLER, exec: process.env.AWS_EXECUTION_ENV,
              api: process.env.AWS_LAMBDA_RUNTIME_API, root: process.env.LAMBDA_TASK_ROOT,
            },
            cwd: process.cwd(),
          };
        };
    '''})
    server = make_lemu({"Functions": [node_fn("ctx", code, timeout=5, memory=256)]})
    c = server.client()
    invoke(c, "ctx")  # cold start first: the measured invoke below is warm
    resp, rid, body = invoke(c, "ctx")
    assert "FunctionError" not in resp, body
    got = json.loads(body)
    assert got["awsRequestId"] == rid
    assert got["functionName"] == "ctx"
    assert got["functionVersion"] == "$LATEST"
    assert got["invokedFunctionArn"] == arn("ctx")
    assert got["memoryLimitInMB"] == "256"  # a string, from AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    assert got["logGroupName"] == "/aws/lambda/ctx"
    assert re.match(r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$", got["logStreamName"]), got
    assert got["callbackWaitsForEmptyEventLoop"] is True
    assert got["identity"] is None and got["clientContext"] is None
    assert got["kinds"] == ["function"] * 3
    # getRemainingTimeInMillis: the deadline header minus now -- Timeout*1000 within 50 ms at the
    # start, then 200 ms less.
    assert 5000 - 50 <= got["before"] <= 5000, got["before"]
    assert 150 <= got["before"] - got["after"] <= 400, (got["before"], got["after"])
    assert got["env"]["handler"] == "index.handler"
    assert got["env"]["exec"] == "AWS_Lambda_nodejs20.x"
    assert re.match(r"^127\.0\.0\.1:\d+$", got["env"]["api"])
    assert os.path.realpath(got["env"]["root"]) == code
    assert os.path.realpath(got["cwd"]) == code


def test_context_client_context(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.handler = async (event, context) => context.clientContext;
    '''})
    server = make_lemu({"Functions": [node_fn("cc", code)]})
    client_context = {"custom": {"k": "v"}, "env": {"platform": "test"}, "client": {"app_title": "lemu"}}
    resp, rid, body = invoke(server.client(), "cc",
                             ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode())
    assert "FunctionError" not in resp, body
    assert json.loads(body) == client_context


def test_handler_styles(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.asyncFn = async (event) => ({style: 'async', event});
        exports.promise = (event) => Promise.resolve({style: 'promise'});
        exports.callback = (event, context, callback) => { callback(null, {style: 'callback'}); };
        exports.succeed = (event, context) => { context.succeed({style: 'succeed'}); };
        exports.done = (event, context) => { context.done(null, {style: 'done'}); };
        exports.sync = (event) => ({style: 'sync'});  // a plain return is not a result: null
        exports.cberr = (event, context, callback) => callback(new RangeError('bad range'));
        exports.nested = {deeper: {handler: async () => 'nested'}};
    '''})
    names = ["asyncFn", "promise", "callback", "succeed", "done", "sync", "cberr", "nested.deeper.handler"]
    server = make_lemu({"Functions": [node_fn(n.replace(".", "-"), code, handler="index." + n) for n in names]})
    c = server.client()
    expect = {"asyncFn": {"style": "async", "event": {"x": 1}}, "promise": {"style": "promise"},
              "callback": {"style": "callback"}, "succeed": {"style": "succeed"},
              "done": {"style": "done"}, "sync": None, "nested.deeper.handler": "nested"}
    for n, want in expect.items():
        resp, rid, body = invoke(c, n.replace(".", "-"), b'{"x": 1}')
        assert "FunctionError" not in resp, (n, body)
        assert json.loads(body) == want, n
    resp, rid, body = invoke(c, "cberr")
    doc = function_error(resp, body)
    assert doc["errorType"] == "RangeError" and doc["errorMessage"] == "bad range"
    assert doc["trace"][0] == "RangeError: bad range"


def test_callback_waits_for_empty_event_loop(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.handler = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = event.wait;
          setTimeout(() => console.log('timer fired'), 1500);
          callback(null, 'answered');
        };
    '''})
    server = make_lemu({"Functions": [node_fn("cbwait", code, timeout=5)]})
    c = server.client()
    invoke(c, "cbwait", b'{"wait": false}')  # cold start out of the way (its timer runs on)
    time.sleep(1.6)
    t = time.monotonic()
    resp, rid, body = invoke(c, "cbwait", b'{"wait": true}')
    waited = time.monotonic() - t
    assert body == b'"answered"'
    assert waited >= 1.4, "the default (true) must wait for the pending timer: %.2fs" % waited
    t = time.monotonic()
    resp, rid, body = invoke(c, "cbwait", b'{"wait": false}')
    quick = time.monotonic() - t
    assert body == b'"answered"'
    assert quick < 1.0, "callbackWaitsForEmptyEventLoop=false must answer at once: %.2fs" % quick


def test_module_forms_and_subdirectory(make_lemu, tmp_path):
    esm_js = write_code(tmp_path / "esm", {"package.json": '{"type": "module"}',
                                           "index.js": "export const handler = async () => 'esm .js';\n"})
    cjs = write_code(tmp_path / "cjs", {"index.cjs": "exports.handler = async () => 'cjs';\n"})
    deep = write_code(tmp_path / "deep", {"dir/sub/file.js": "exports.func = async () => 'deep';\n"})
    server = make_lemu({"Functions": [node_fn("esm", esm_js), node_fn("cjs", cjs),
                                      node_fn("deep", deep, handler="dir/sub/file.func")]})
    c = server.client()
    for name, want in [("esm", b'"esm .js"'), ("cjs", b'"cjs"'), ("deep", b'"deep"')]:
        resp, rid, body = invoke(c, name)
        assert "FunctionError" not in resp, (name, body)
        assert body == want


def test_warm_reuse_then_fresh_environment_after_timeout(make_lemu):
    server = make_lemu({"Functions": [sample_fn("timeout-node")]})
    c = server.client()
    for expected in (1, 2):
        resp, rid, body = invoke(c, "timeout-node", b'{"seconds": 0}')
        assert "FunctionError" not in resp, body
        assert json.loads(body)["invocations"] == expected, "module state was not kept warm"
    resp, rid, body = invoke(c, "timeout-node", b'{"seconds": 5}')
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorType": "Sandbox.Timedout",
                                "errorMessage": "RequestId: %s Error: Task timed out after 1.00 seconds" % rid}
    resp, rid, body = invoke(c, "timeout-node", b'{"seconds": 0}')
    assert "FunctionError" not in resp, body
    assert json.loads(body)["invocations"] == 1, "the environment after a timeout is not fresh"


# ---------------------------------------------------------------------------------------
# errors in the handler

def test_thrown_error_sample(make_lemu):
    server = make_lemu({"Functions": [sample_fn("throw-node")]})
    resp, rid, body = invoke(server.client(), "throw-node", LogType="Tail")
    doc = function_error(resp, body)
    assert doc["errorType"] == "Error"
    assert doc["errorMessage"] == "boom"
    url = "file://" + os.path.join(sample("throw-node"), "index.mjs")
    assert doc["trace"][:2] == ["Error: boom", "    at Runtime.handler (%s:4:9)" % url], doc["trace"]
    lines = decode_tail(resp).split("\n")
    logged = [l for l in lines if re.match(r"^%s\t%s\tERROR\tInvoke Error \t\{" % (ISO_MS, rid), l)]
    assert len(logged) == 1, lines
    assert json.loads(logged[0].split("\t", 4)[4])["errorMessage"] == "boom"


def test_non_error_throw_uses_typeof(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.handler = (event) => { throw 'plain string'; };
    '''})
    server = make_lemu({"Functions": [node_fn("str", code)]})
    resp, rid, body = invoke(server.client(), "str")
    assert function_error(resp, body) == {"errorType": "string", "errorMessage": "plain string", "trace": []}


def test_promise_never_settled_is_nodejs_exit(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        let n = 0;
        exports.handler = async (event) => {
          n += 1;
          if (event.hang) return new Promise(() => {});
          return n;
        };
    '''})
    server = make_lemu({"Functions": [node_fn("hang", code)]})
    c = server.client()
    resp, rid, body = invoke(c, "hang", b'{"hang": true}')
    runtime_error(function_error(resp, body), "Runtime.NodeJsExit", NODEJS_EXIT)
    resp, rid, body = invoke(c, "hang", b'{}')
    assert body == b"2", "the environment should stay warm after Runtime.NodeJsExit"


def test_uncaught_exception_and_unhandled_rejection(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        let n = 0;
        exports.handler = (event, context, callback) => {
          n += 1;
          if (event.kind === 'throw') setTimeout(() => { throw new TypeError('async boom'); }, 10);
          if (event.kind === 'reject') Promise.reject(new Error('floating'));
          setTimeout(() => callback(null, n), 300);
        };
    '''})
    server = make_lemu({"Functions": [node_fn("crashy", code)]})
    c = server.client()
    resp, rid, body = invoke(c, "crashy", b'{"kind": "throw"}')
    doc = function_error(resp, body)
    assert doc["errorType"] == "TypeError" and doc["errorMessage"] == "async boom"
    resp, rid, body = invoke(c, "crashy", b'{}')
    assert body == b"1", "after an uncaught exception the runtime exits; the next invoke is a cold start"
    resp, rid, body = invoke(c, "crashy", b'{"kind": "reject"}')
    runtime_error(function_error(resp, body), "Runtime.UnhandledPromiseRejection", "Error: floating")
    resp, rid, body = invoke(c, "crashy", b'{}')
    assert body == b"1"


def test_unserialisable_result(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        exports.handler = async () => { const o = {}; o.self = o; return o; };
    '''})
    server = make_lemu({"Functions": [node_fn("circ", code)]})
    resp, rid, body = invoke(server.client(), "circ")
    doc = function_error(resp, body)
    assert doc["errorType"] == "Error" and doc["errorMessage"] == "Unable to stringify response body"


# ---------------------------------------------------------------------------------------
# errors at init: posted to /runtime/init/error, returned to the caller, retried next invoke

def test_import_error_sample(make_lemu):
    server = make_lemu({"Functions": [sample_fn("import-error-node")]})
    c = server.client()
    message = "Error: Cannot find module 'function'\nRequire stack:\n- %s" % NODE_BOOTSTRAP
    for _ in range(2):  # init runs again on the next invoke and fails the same way
        resp, rid, body = invoke(c, "import-error-node")
        runtime_error(function_error(resp, body), "Runtime.ImportModuleError", message)
    # The runtime's own log of the failure (written during init, before any request id, so in
    # lemu's log rather than necessarily in the invoke's Tail).
    logged = server.wait_for_line(lambda l: re.match(
        r"^\[import-error-node\] %s\tundefined\tERROR\tUncaught Exception \t\{" % ISO_MS, l))
    assert json.loads(logged.rstrip("\n").split("\t", 4)[4])["errorType"] == "Runtime.ImportModuleError"


def test_handler_missing_sample(make_lemu):
    server = make_lemu({"Functions": [sample_fn("handler-missing-node")]})
    resp, rid, body = invoke(server.client(), "handler-missing-node")
    runtime_error(function_error(resp, body), "Runtime.HandlerNotFound",
                  "index.handler is undefined or not exported")


def test_handler_not_a_function_and_malformed_names(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": "exports.handler = 42;\n"})
    server = make_lemu({"Functions": [node_fn("notfn", code), node_fn("nodot", code, handler="index"),
                                      node_fn("updir", code, handler="../index.handler")]})
    c = server.client()
    resp, rid, body = invoke(c, "notfn")
    runtime_error(function_error(resp, body), "Runtime.HandlerNotFound", "index.handler is not a function")
    resp, rid, body = invoke(c, "nodot")
    runtime_error(function_error(resp, body), "Runtime.MalformedHandlerName", "Bad handler")
    resp, rid, body = invoke(c, "updir")
    runtime_error(function_error(resp, body), "Runtime.MalformedHandlerName",
                  "'../index.handler' is not a valid handler name. Use absolute paths when specifying "
                  "root directories in handler names.")


def test_syntax_error(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": "exports.handler = async () => {\n  return {;\n};\n"})
    # The exact SyntaxError text belongs to the node lemu runs (node on PATH).
    probe = subprocess.run([shutil.which("node"), "-e",
                            "try { require(process.argv[1]); } catch (e) { console.log(String(e)); }",
                            os.path.join(code, "index.js")], capture_output=True, text=True, timeout=30)
    syntax = probe.stdout.strip()
    assert syntax.startswith("SyntaxError: "), probe
    server = make_lemu({"Functions": [node_fn("syntax", code)]})
    resp, rid, body = invoke(server.client(), "syntax")
    runtime_error(function_error(resp, body), "Runtime.UserCodeSyntaxError", syntax)


def test_exception_at_load_is_an_init_error(make_lemu, tmp_path):
    code = write_code(tmp_path / "code", {"index.js": '''
        if (!process.env.TABLE_NAME) throw new TypeError('TABLE_NAME is not set');
        exports.handler = async () => 1;
    '''})
    server = make_lemu({"Functions": [node_fn("initfail", code)]})
    resp, rid, body = invoke(server.client(), "initfail")
    doc = function_error(resp, body)
    assert doc["errorType"] == "TypeError" and doc["errorMessage"] == "TABLE_NAME is not set"
    assert doc["trace"][:2] == ["TypeError: TABLE_NAME is not set",
                                "    at Object.<anonymous> (%s/index.js:1:36)" % code], doc["trace"]


def test_unreadable_handler_file(make_lemu, tmp_path):
    """SEED: `EACCES: permission denied, open '/var/task/index.js'` (errorType Error). Root reads
    any file whatever its mode, so as root lemu itself is run as user nobody (setpriv) from a
    world-readable directory."""
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        pytest.skip("running as root, where chmod 000 does not stop reads, and no setpriv to drop to nobody")
    base = tempfile.mkdtemp(prefix="lemu-perm-", dir="/tmp") if as_root else str(tmp_path)
    try:
        os.chmod(base, 0o755)
        code = write_code(os.path.join(base, "code"), {"index.js": "exports.handler = async () => 1;\n"})
        os.chmod(code, 0o755)
        os.chmod(os.path.join(code, "index.js"), 0)
        config = {"Functions": [node_fn("perm", code)]}
        server = start_as_nobody(base, config) if as_root else make_lemu(config)
        try:
            resp, rid, body = invoke(server.client(), "perm")
            doc = function_error(resp, body)
            assert doc["errorType"] == "Error"
            assert doc["errorMessage"] == "EACCES: permission denied, open '%s/index.js'" % code
        finally:
            if as_root:
                server.stop()
    finally:
        if as_root:
            shutil.rmtree(base, ignore_errors=True)
