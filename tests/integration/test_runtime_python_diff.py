"""Differential test of the Python runtime shim's two paths: lemu_runtime.py decodes events and
encodes results with json's C accelerators (_json) and talks through _socket, so a cold start
imports neither json nor socket (nor re, enum, selectors); once json is imported (by the handler,
or on a rare path) it uses json itself, as it always did. The same runtime is run twice against
the same scripted fake Runtime API on 127.0.0.1: as it starts, and with json and socket imported
before it starts (a sitecustomize on PYTHONPATH), which is json's own behaviour. Every request
byte and every stdout/stderr byte must match, under every Python found (~/.pyenv/versions/3.* and
/usr/bin/python3), after normalising what differs by construction: the runtime's own folder, line
numbers inside lemu_runtime.py, timestamps and Content-Length (checked against the body first).

Needs no lemu build; runs in seconds. Run directly (`python3 test_runtime_python_diff.py`) for a
per-version summary, or under pytest.
"""
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME_DIR = os.path.join(REPO, "runtime-api", "runtimes", "python")
PRELOAD = "import json\nimport socket\n"  # the reference side's sitecustomize.py


def pythons():
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found


# ---- the function code ----

APP = r'''
import sys
def echo(event, context):
    print(repr(event), type(event).__name__)
    print(repr(context.client_context), repr(context.identity))
    return event

def modules(event, context):
    import json, re, enum, socket
    return [getattr(m, "USER", None) for m in (json, re, enum, socket)]

def results(event, context):
    import decimal, datetime
    D = decimal.Decimal
    class S(str): pass
    class I(int): pass
    class F(float): pass
    circ = []; circ.append(circ)
    circd = {}; circd["x"] = circd
    def nest(n):
        d = []
        for _ in range(n):
            d = [d]
        return d
    def gen():
        yield 1
    cases = {
        "dict": lambda: {"a": 1, "b": [1, 2.5, None, True, False], "c": {"d": "e"}, "\u00e9": "\u2713"},
        "list": lambda: [1, "two", 3.0, [4], {"five": 5}],
        "str": lambda: "plain",
        "ustr": lambda: "h\u00e9llo \u2713 \U0001F600 \u0000 \x1f \"q\" \\ /",
        "surrogate": lambda: "lone \ud800 surrogate",
        "bytes": lambda: b"\x00\xff raw",
        "none": lambda: None,
        "true": lambda: True,
        "zero": lambda: 0,
        "negzero": lambda: -0.0,
        "floats": lambda: [1e308, 5e-324, 0.1, 1.7976931348623157e308, 1e16, 123456789.125],
        "inf": lambda: [float("inf"), float("-inf")],
        "nan": lambda: float("nan"),
        "decimal": lambda: D("1.10"),
        "decimals": lambda: {"d": [D("3.14"), D("NaN"), D("-Infinity"), D("1E+2"), D("-0")]},
        "tuple": lambda: (1, (2, 3), [4, (5,)]),
        "set": lambda: {1, 2},
        "object": lambda: object(),
        "datetime": lambda: {"when": datetime.datetime(2020, 1, 2, 3, 4, 5)},
        "circular": lambda: circ,
        "circulard": lambda: circd,
        "deep": lambda: nest(3000),
        "keys": lambda: {1: "a", 2.5: "b", True: "c", None: "d", "e": "f"},
        "tuplekey": lambda: {(1, 2): "x"},
        "subclasses": lambda: [S("s"), I(7), F(2.5), {S("k"): I(1)}],
        "bigint": lambda: 10 ** 5000,
        "bigint2": lambda: 123456789012345678901234567890,
        "generator": lambda: gen(),
        "raise": lambda: 1 / 0,
        "raiseu": lambda: (_ for _ in ()).throw(ValueError("bad \u00e9 \u2713")),
        "bigstr": lambda: "x" * 70000,
    }
    for n in range(960, 1001):
        cases["deep%d" % n] = lambda n=n: nest(n)
    return cases[event["case"]]()
'''

JSON_APP = "import json\n" + APP

INIT_FILES = {
    "syntaxerr.py": "def handler(event, context:\n    return 1\n",
    "raising.py": "raise RuntimeError('init failed \u00e9')\n",
    "importerr.py": "import no_such_module_xyz\n",
}

# ---- events ----

def deep(n):
    return b"[" * n + b"]" * n


# Once anything imports json (an error path does), the runtime uses json itself: valid inputs
# come first so that the fast path decodes them; nesting depths ascend, so the first too deep is
# the fast path's too.
EVENTS_OK = [
    b"{}",
    b'{"a": {"b": {"c": [1, 2, {"d": null}]}}, "e": true, "f": false}',
    '{"u": "h\u00e9llo \u2713 \U0001F600"}'.encode("utf-8"),
    b'{"esc": "\\u00e9\\ud83d\\ude00 \\ud800 lone \\n\\t\\"\\\\"}',
    b"[1e308, 1e309, -0.0, 0.1, 1.7976931348623157e308, 5e-324, 1E400, -1e-400, 2.5e-3]",
    b"[NaN, Infinity, -Infinity]",
    b"[123456789012345678901234567890, -0, 0, -1]",
    b"[" + b"9" * 5000 + b"]",
    b'"YmFzZTY0LWlzaA=="', b' \t\n{"a": 1}\r\n ', b'{"dup": 1, "dup": 2}', b"12", b"  7  ", b'"s"',
    b"null", b"true", deep(900), b'{"a": [' + b"{}," * 1000 + b'{}]}',
]
EVENTS_DEEP = [deep(n) for n in range(960, 1001)] + [deep(100000)]
EVENTS_BAD = [  # and those json.loads decodes itself (a BOM, UTF-16/32)
    b"\xef\xbb\xbf{\"bom\": 1}", '{"utf16": "\u00e9"}'.encode("utf-16"), '{"utf16le": 1}'.encode("utf-16-le"),
    '{"utf32": 1}'.encode("utf-32-be"), b"1\x00\x00",
    b"not json", b"", b"   ", b' \t\n{"a": 1}\r\n ', b'{"a": 1} x', b"[1,]", b'{"a" 1}', b"{'a': 1}",
    b'"ctl \x01 char"', b'"\xff"', b"\x00", b"1\x00", b"\xfe\xff", b"\xff\xfe", b"\xef\xbb\xbf",
]


def invocation(i, body, content_type="application/json", extra=None):
    headers = [("Lambda-Runtime-Aws-Request-Id", "req-%d" % i),
               ("Lambda-Runtime-Deadline-Ms", "99999999999999"),
               ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:1:function:f"),
               ("Lambda-Runtime-Trace-Id", "Root=1-x")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    headers.extend(extra or [])
    return headers, body


def echo_script():
    script = [(body, "application/json", None) for body in EVENTS_OK] + [
        (b"raw \x00\xff bytes", "application/octet-stream", None),
        (b'{"ct": 1}', "application/json; charset=utf-8", None),
        (b'{"noct": 1}', None, None),
        (b"not json", "text/plain", None)]
    script += [(b'{"h": 1}', "application/json", h) for h in HEADERS_OK]
    script += [(body, "application/json", None) for body in EVENTS_DEEP + EVENTS_BAD]
    script += [(b'{"h": 2}', "application/json", h) for h in HEADERS_BAD + HEADERS_OK]
    return [invocation(i, body, ct, h and [h]) for i, (body, ct, h) in enumerate(script)]


def headers_bad_first_script():
    """The header errors without the events' errors before them (json not yet imported)."""
    return [invocation(i, b"{}", extra=[h]) for i, h in enumerate(HEADERS_BAD)]


HEADERS_OK = [
        ("Lambda-Runtime-Client-Context",
         '{"custom": {"k": "v"}, "env": {"e": 1}, "client": {"installation_id": "i", "app_title": "t"}}'),
        ("Lambda-Runtime-Cognito-Identity", '{"cognitoIdentityId": "id", "cognitoIdentityPoolId": "pool"}'),
        ("Lambda-Runtime-Client-Context", '"a string"'),
        ("Lambda-Runtime-Client-Context", '{"client": [1]}'),
        ("Lambda-Runtime-Client-Context", ""),
        ("Lambda-Runtime-Client-Context", "NaN"),
        ("Lambda-Runtime-Client-Context", '{"u": "\u00c3\u00a9"}'),
]
HEADERS_BAD = [
        ("Lambda-Runtime-Cognito-Identity", "[1, 2]"),
        ("Lambda-Runtime-Client-Context", "{bad json"),
        ("Lambda-Runtime-Cognito-Identity", "{bad json"),
        ("Lambda-Runtime-Cognito-Identity", "{} extra"),
        ("Lambda-Runtime-Client-Context", "\u00ef\u00bb\u00bf{}"),
]


RESULT_CASES = re.findall(r'^        "(\w+)": lambda', APP, re.M)


# Serializable results first: the first one that is not imports json (for its TypeError).
RESULT_ORDER = (["dict", "list", "str", "ustr", "surrogate", "bytes", "none", "true", "zero", "negzero",
                 "floats", "inf", "nan", "tuple", "keys", "subclasses", "bigint2", "bigstr",
                 "decimal", "decimals", "circular", "circulard", "deep", "bigint", "tuplekey"]
                + ["deep%d" % n for n in range(960, 1001)])
RESULT_ORDER += [c for c in RESULT_CASES if c not in RESULT_ORDER]


def results_script():
    return [invocation(i, ('{"case": "%s"}' % c).encode()) for i, c in enumerate(RESULT_ORDER)]


# ---- the fake Runtime API ----

class FakeApi:
    """Answers GET /next from a script, 202 to every POST; records every request's bytes."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self.done = threading.Event()
        self.init_error = False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        try:
            while True:
                end = buf.find(b"\r\n\r\n")
                while end < 0:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                    end = buf.find(b"\r\n\r\n")
                head = buf[:end].decode("iso-8859-1")
                m = re.search(r"\r\nContent-Length: (\d+)", head, re.I)
                length = int(m.group(1)) if m else 0
                while len(buf) < end + 4 + length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body = buf[end + 4:end + 4 + length]
                buf = buf[end + 4 + length:]
                self.requests.append((head, body))
                if head.startswith("GET "):
                    if not self.script:  # the runtime waits here until it is killed
                        self.done.set()
                        conn.recv(1)
                        return
                    headers, ebody = self.script.pop(0)
                    lines = ["HTTP/1.1 200 OK", "Content-Length: %d" % len(ebody)]
                    lines += ["%s: %s" % h for h in headers]
                    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1") + ebody)
                else:
                    conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
                    if "/init/error" in head:
                        self.init_error = True
                        self.done.set()
        except OSError:
            pass  # the runtime was killed
        finally:
            conn.close()

    def close(self):
        self.listener.close()


# ---- running one side ----

def normalise(text, runtime_dir):
    text = text.replace(runtime_dir, "<RUNTIME>")
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<PORT>", text)
    text = re.sub(r'lemu_runtime\.py(\\?)", line \d+', r'lemu_runtime.py\1", line N', text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "<TIME>", text)
    return text


def run_side(python, runtime_dir, task_root, handler, script, env_extra=None, preload_dir=None):
    api = FakeApi(script)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % api.port,
           "_HANDLER": handler, "LAMBDA_TASK_ROOT": task_root, "LANG": "C.UTF-8",
           "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}
    if preload_dir:
        env["PYTHONPATH"] = preload_dir  # its sitecustomize.py imports json and socket first
    env.update(env_extra or {})
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    proc = subprocess.Popen([python, os.path.join(runtime_dir, "bootstrap.py")], cwd=task_root,
                            env=env, stdout=out_f, stderr=err_f)
    try:
        finished = api.done.wait(60)
        if api.init_error:  # the runtime exits 1 by itself
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        api.close()
    out_f.seek(0)
    err_f.seek(0)
    reqs = []
    for head, body in list(api.requests):
        m = re.search(r"\r\nContent-Length: (\d+)", head)
        assert int(m.group(1) if m else 0) == len(body), head
        head = re.sub(r"\r\nContent-Length: \d+", "\r\nContent-Length: <N>", head)
        reqs.append(normalise(head, runtime_dir) + "\n\n" +
                    normalise(body.decode("utf-8", "surrogateescape"), runtime_dir))
    stdout = normalise(out_f.read().decode("utf-8", "surrogateescape"), runtime_dir)
    stderr = normalise(err_f.read().decode("utf-8", "surrogateescape"), runtime_dir)
    return {"requests": reqs, "stdout": stdout, "stderr": stderr, "rc": proc.returncode,
            "finished": finished}


SCENARIOS = [
    ("echo", "app.echo", echo_script, APP, {}),
    ("echo-ascii", "app.echo", echo_script, APP, {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"}),
    ("results", "app.results", results_script, APP, {}),
    ("results-ascii", "app.results", results_script, APP, {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.9"}),
    ("results-json", "app.results", results_script, JSON_APP, {}),
    ("headers-bad", "app.echo", headers_bad_first_script, APP, {}),
    ("echo-json", "app.echo", echo_script, JSON_APP, {}),
    ("shadow", "app.modules", lambda: [invocation(0, b"{}")], APP, {"shadow": True}),
    ("shadow-echo", "app.echo", echo_script, APP, {"shadow": True}),
    ("init-malformed", "nodots", list, APP, {}),
    ("init-builtin", "sys.handler", list, APP, {}),
    ("init-missing", "missing.handler", list, APP, {}),
    ("init-syntax", "syntaxerr.handler", list, APP, {}),
    ("init-raising", "raising.handler", list, APP, {}),
    ("init-importerr", "importerr.handler", list, APP, {}),
    ("init-nohandler", "app.nosuch", list, APP, {}),
]


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("pydiff"))
    return make_sides(base)


def make_sides(base):
    """The reference side: a copy of the runtime started with json and socket imported (the
    sitecustomize in `preload`); the fast side: another copy, started as lemu starts it."""
    ref, fast, preload = (os.path.join(base, d) for d in ("rt_ref", "rt_fast", "preload"))
    for d in (ref, fast):
        shutil.copytree(RUNTIME_DIR, d, ignore=shutil.ignore_patterns("__pycache__"))
    os.makedirs(preload)
    with open(os.path.join(preload, "sitecustomize.py"), "w") as f:
        f.write(PRELOAD)
    return base, ref, fast


SHADOW_FILES = {"json.py": "USER = 'json'\n", "enum.py": "USER = 'enum'\n"}


def task_root(base, name, app, shadow=False):
    root = os.path.join(base, "task-" + name)
    if not os.path.isdir(root):
        os.makedirs(root)
        for rel, text in (SHADOW_FILES if shadow else {}).items():
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        with open(os.path.join(root, "app.py"), "w") as f:
            f.write(textwrap.dedent(app))
        for rel, text in INIT_FILES.items():
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
    return root


def compare(python, base, ref, fast, scenario):
    name, handler, script, app, env = scenario
    env = dict(env)
    shadow = env.pop("shadow", False)
    root = task_root(base, ("json" if app is JSON_APP else "plain") + ("-shadow" if shadow else ""),
                     app, shadow)
    a = run_side(python, ref + os.sep, root, handler, script(), env,
                 preload_dir=os.path.join(base, "preload"))
    b = run_side(python, fast + os.sep, root, handler, script(), env)
    a_norm = dict(a, requests=[r.replace("<RUNTIME>", "<R>") for r in a["requests"]])
    b_norm = dict(b, requests=[r.replace("<RUNTIME>", "<R>") for r in b["requests"]])
    problems = []
    for key in ("rc", "finished", "stdout", "stderr"):
        if a_norm[key] != b_norm[key]:
            problems.append("%s differs:\n--- json imported first\n%s\n--- as started\n%s" % (key, a_norm[key], b_norm[key]))
    if a_norm["requests"] != b_norm["requests"]:
        for i, (x, y) in enumerate(zip(a_norm["requests"], b_norm["requests"])):
            if x != y:
                problems.append("request %d differs:\n--- json imported first\n%r\n--- as started\n%r" % (i, x, y))
                break
        else:
            problems.append("request counts differ: %d vs %d" % (len(a["requests"]), len(b["requests"])))
    if not a["finished"]:
        problems.append("the script did not finish (reference side)")
    return problems, len(a["requests"])


@pytest.mark.parametrize("python", pythons())
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_same_bytes(sides, python, scenario):
    base, ref, fast = sides
    problems, _ = compare(python, base, ref, fast, scenario)
    assert not problems, "\n".join(problems)[:6000]


@pytest.mark.parametrize("python", pythons())
def test_cold_path_imports_neither_json_nor_socket(tmp_path, python):
    """A handler that imports nothing (in a folder without a module named like one of those json
    and socket import): json, socket (and re, enum, selectors unless the
    interpreter's own start-up loads them) are absent from sys.modules when it runs."""
    probe = "import sys\nprint(sys.modules.keys() & {%s})\n"
    names = "'json', 'socket', 're', 'enum', 'selectors'"
    startup = subprocess.run([python, "-c", probe % names], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout
    root = str(tmp_path)
    with open(os.path.join(root, "app.py"), "w") as f:
        f.write("import sys\ndef handler(event, context):\n    return sorted(sys.modules.keys() & {%s})\n"
                % names)
    result = run_side(python, RUNTIME_DIR + os.sep, root, "app.handler",
                      [invocation(0, b'{"a": [1, 2.5, "x"]}', extra=[
                          ("Lambda-Runtime-Client-Context", '{"custom": {}}')])])
    posts = [body for body in result["requests"] if body.startswith("POST")]
    assert posts and "/response" in posts[0], result
    loaded = set(re.findall(r'"(\w+)"', posts[0].split("\n\n", 1)[1]))
    preloaded = set(re.findall(r"'(\w+)'", startup))
    assert loaded <= preloaded, (loaded, preloaded)


if __name__ == "__main__":
    base = tempfile.mkdtemp(prefix="pydiff")
    try:
        base, ref, fast = make_sides(base)
        failed = False
        for python in pythons():
            version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                     stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
            total, bad = 0, []
            for scenario in SCENARIOS:
                problems, n = compare(python, base, ref, fast, scenario)
                total += n
                if problems:
                    bad.append((scenario[0], problems))
            print("%-45s %-8s %2d scenarios, %4d requests compared: %s" % (
                python, version, len(SCENARIOS), total, "SAME" if not bad else "DIFFERENT"))
            for name, problems in bad:
                failed = True
                print("  %s:\n%s" % (name, "\n".join(problems)[:3000]))
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(base, ignore_errors=True)
