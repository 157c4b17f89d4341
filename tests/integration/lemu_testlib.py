"""Helpers shared by the integration tests (conftest.py holds the fixtures).

Everything here is client-side: building lemu.json function entries, writing small test
runtimes (bootstraps) into a test's tmp_path, exact-size JSON payloads, raw HTTP on sockets,
the AWS CLI, and reading /proc to find lemu's child processes. No expected value is computed
here from lemu's own output: tests compare lemu's answers with AWS's documented bytes.
"""
import base64
import json
import os
import random
import re
import shutil
import socket
import stat
import string
import subprocess
import sys
import time

import pytest

import conftest
from conftest import sample

REGION = "us-east-1"
ACCOUNT = "123456789012"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INVOKE_LIMIT = 6291456           # sync request body limit (reference §1.3)
RESPONSE_LIMIT = 6291556         # Runtime API response limit, 6 MiB + 100 (reference §1.3)
CLI_TIMEOUT_S = 60


def arn(name, qualifier=None):
    a = "arn:aws:lambda:%s:%s:function:%s" % (REGION, ACCOUNT, name)
    return a + ":" + qualifier if qualifier else a


def fn(name, code_uri, timeout=3, memory=128, env=None, handler="bootstrap.handler",
       runtime="provided.al2023", **extra):
    """One entry of lemu.json's Functions array, with AWS's field names."""
    f = {"FunctionName": name, "Runtime": runtime, "Handler": handler, "CodeUri": code_uri,
         "Timeout": timeout, "MemorySize": memory}
    if env is not None:
        f["Environment"] = {"Variables": env}
    f.update(extra)
    return f


def echo_fn(name="echo"):
    return fn(name, sample("echo"))


def request_id(resp):
    """The x-amzn-RequestId of a boto3 response (asserting both places agree)."""
    rid = resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    assert rid, "no x-amzn-RequestId header: %r" % resp["ResponseMetadata"]["HTTPHeaders"]
    assert resp["ResponseMetadata"]["RequestId"] == rid
    assert UUID_RE.match(rid), "request id is not a lowercase UUID: %r" % rid
    return rid


def assert_serving(server, name="echo"):
    """lemu is alive and answers a normal invoke of the echo sample byte-identically."""
    assert server.proc.poll() is None, "lemu exited (%s); stderr:\n%s" % (
        server.proc.returncode, server.stderr_text())
    payload = json.dumps({"alive": random.random()}).encode()
    resp = server.client().invoke(FunctionName=name, Payload=payload)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert resp["Payload"].read() == payload


# ---------------------------------------------------------------------------------------
# payloads

def exact_json(size, seed=1, extra=None):
    """Valid JSON of exactly `size` bytes (UTF-8), with varied content: non-ASCII characters,
    escapes, nesting, so that byte-identity really means byte-identity."""
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + ' \u00e9\u2713\u0436"\\/\n\t{}[]:,'
    compact = dict(ensure_ascii=False, separators=(",", ":"))
    doc = dict(extra or {}, data=[], pad="")
    total = len(json.dumps(doc, **compact).encode())
    parts = []
    while total + 300 < size:
        s = "".join(rnd.choices(alphabet, k=rnd.randint(1, 120)))
        total += len(json.dumps(s, **compact).encode()) + (1 if parts else 0)
        parts.append(s)
    assert size >= total, "size %d too small for %r" % (size, extra)
    doc["data"] = parts
    doc["pad"] = "x" * (size - total)
    out = json.dumps(doc, **compact).encode()
    assert len(out) == size, (len(out), size)
    return out


def padded_json(size):
    """`{"pad":"xxx…"}` of exactly `size` bytes (cheap, for the multi-MB limit tests)."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


# ---------------------------------------------------------------------------------------
# test runtimes written into tmp_path

# A small custom runtime in Python driven by its event:
#  {"report": true}  -> responds with what it saw: /next status + headers, environment, cwd,
#                       pid, raw event; also prints one line on stdout and one on stderr.
#  {"steps": [...]}  -> performs each step (a Runtime API request) and records the answer in
#                       $RESULTS_DIR/<request id>.json; the steps include its real response.
# Step: {"method": "POST", "path": "/runtime/invocation/{id}/response", "body": "...",
#        "body_size": N (a JSON string of exactly N bytes instead of body), "headers": {...}}
SCRIPTED_RUNTIME = r'''#!@PYTHON@
import json, os, socket, sys, time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.rsplit(":", 1)


def call(method, path, body=b"", headers=None):
    s = socket.create_connection((HOST, int(PORT)), timeout=60)
    hdrs = {"Host": API, "Content-Length": str(len(body)), "Connection": "close"}
    hdrs.update(headers or {})
    head = "%s /2018-06-01%s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    send_error = None
    try:
        s.sendall(head.encode() + body)
    except OSError as e:
        send_error = repr(e)
    data = b""
    try:
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        send_error = send_error or repr(e)
    s.close()
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else None
    hs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hs[k.strip().lower()] = v.strip()
    if hs.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        rest = out
    return {"status": status, "headers": hs, "raw_headers": lines[1:], "body": rest.decode("utf-8", "replace"),
            "send_error": send_error}


while True:
    nxt = call("GET", "/runtime/invocation/next")
    rid = nxt["headers"].get("lambda-runtime-aws-request-id", "")
    try:
        event = json.loads(nxt["body"])
    except ValueError:
        event = {}
    if not isinstance(event, dict):
        event = {}
    if event.get("report"):
        print("stdout-marker " + rid, flush=True)
        sys.stderr.write("stderr-marker " + rid + "\n")
        sys.stderr.flush()
        out = {"next": nxt, "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid(),
               "now_ms": int(time.time() * 1000)}
        call("POST", "/runtime/invocation/%s/response" % rid, json.dumps(out).encode(),
             {"Content-Type": "application/json"})
        continue
    results = []
    for step in event.get("steps", []):
        path = step["path"].replace("{id}", rid)
        if "body_size" in step:
            body = b'"' + b"r" * (step["body_size"] - 2) + b'"'
        else:
            body = step.get("body", "").encode()
        results.append(call(step.get("method", "POST"), path, body, step.get("headers")))
    tmp = os.path.join(os.environ["RESULTS_DIR"], rid + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"request_id": rid, "next": nxt, "results": results}, f)
    os.rename(tmp, os.path.join(os.environ["RESULTS_DIR"], rid + ".json"))
'''

# Posts /runtime/init/error before ever calling /next, then exits 1 (as awslambdaric does).
INIT_ERROR_RUNTIME = r'''#!@PYTHON@
import http.client, os, sys
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
body = os.environ["INIT_ERROR_BODY"].encode()
c.request("POST", "/2018-06-01/runtime/init/error", body=body,
          headers={"Lambda-Runtime-Function-Error-Type": "Custom.InitBoom",
                   "Content-Type": "application/json"})
r = c.getresponse()
r.read()
sys.stderr.write("init error posted: %d\n" % r.status)
sys.exit(1)
'''


def write_bootstrap(directory, text, mode=0o755):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "bootstrap")
    with open(path, "w") as f:
        f.write(text.replace("@PYTHON@", os.path.realpath(sys.executable)))
    os.chmod(path, mode)
    return path


def wait_for_file(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.02)
    raise AssertionError("%s did not appear within %ss" % (path, timeout))


# ---------------------------------------------------------------------------------------
# logs

def report_re(rid, memory=128, tail=""):
    """AWS's REPORT line (reference §3); groups: duration, billed, max memory, init duration.
    `tail` is a regex for fields AWS may add after Init Duration (e.g. "Status: timeout\t")."""
    return re.compile(r"^REPORT RequestId: %s\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t"
                      r"Memory Size: %d MB\tMax Memory Used: (\d+) MB\t(?:Init Duration: (\d+\.\d\d) ms\t)?%s$"
                      % (re.escape(rid), memory, tail))


def decode_tail(resp):
    assert "LogResult" in resp, "no X-Amz-Log-Result in %r" % resp["ResponseMetadata"]["HTTPHeaders"]
    raw = base64.b64decode(resp["LogResult"], validate=True)
    assert len(raw) <= 4096, "LogResult holds %d bytes, more than 4 KB" % len(raw)
    return raw.decode("utf-8")


# ---------------------------------------------------------------------------------------
# raw HTTP

def raw_exchange(port, data, timeout=5.0, close_after_send=False):
    """Send bytes on a fresh connection; return whatever comes back until close or timeout
    (b"" when the connection was closed without an answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        if close_after_send:
            return b""
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                break
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if _complete_response(out):
                break
        return out
    finally:
        s.close()


def _complete_response(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(body) >= int(m.group(1))
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        return body.endswith(b"0\r\n\r\n")
    return False


def parse_response(data):
    """(status, {lowercase header: value}, body bytes) of one raw HTTP/1.1 response."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, "no complete HTTP response head in %r" % data[:300]
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), "not an HTTP response: %r" % lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        rest = body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    return int(parts[1]), headers, body


def assert_json_error(status, headers, body, expect_status=None):
    """An error in AWS's restJson shape: JSON body, x-amzn-ErrorType, x-amzn-RequestId."""
    if expect_status is not None:
        assert status == expect_status, (status, headers, body)
    else:
        assert 400 <= status < 600, (status, headers, body)
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    assert headers.get("x-amzn-errortype"), "no x-amzn-ErrorType: %r" % headers
    assert headers.get("x-amzn-requestid"), "no x-amzn-RequestId: %r" % headers
    doc = json.loads(body)
    assert isinstance(doc, dict)
    assert doc.get("message") or doc.get("Message"), "no message in %r" % body
    return doc


# ---------------------------------------------------------------------------------------
# AWS CLI

def aws_cli():
    if os.environ.get("LEMU_AWS_CLI"):
        return os.environ["LEMU_AWS_CLI"]
    if os.path.exists("/usr/bin/aws"):
        return "/usr/bin/aws"
    found = shutil.which("aws")
    assert found, "the aws CLI is not installed (Debian package awscli)"
    return found


_CLI_MAJOR = []


def aws_cli_major():
    if not _CLI_MAJOR:
        out = subprocess.run([aws_cli(), "--version"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        m = re.search(r"aws-cli/(\d+)\.", out.stdout + out.stderr)
        _CLI_MAJOR.append(int(m.group(1)) if m else 2)
    return _CLI_MAJOR[0]


def run_cli(server, args, cwd):
    cmd = [aws_cli(), "--endpoint-url", server.url, "--region", REGION] + list(args)
    env = server.cli_env()
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(cwd), timeout=CLI_TIMEOUT_S)


# ---------------------------------------------------------------------------------------
# /proc

def proc_table():
    """{pid: (ppid, pgid, state)} of every process now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        table[int(entry)] = (int(rest[1]), int(rest[2]), rest[0])
    return table


def descendants(pid, table=None):
    table = table or proc_table()
    out, frontier = set(), {pid}
    while frontier:
        kids = {p for p, (pp, _, _) in table.items() if pp in frontier and p not in out}
        out |= kids
        frontier = kids
    return {p: table[p] for p in out}


def _read_proc(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        return "?(%s)" % e.strerror


def process_snapshot(pid):
    """Each thread of pid and of its descendants (state, kernel wait channel, syscall number), as
    text: what a process that does not stop is waiting in, for a failure message."""
    out = []
    for p in [pid] + sorted(descendants(pid)):
        out.append("pid %d: %s" % (p, _read_proc("/proc/%d/cmdline" % p).replace("\0", " ")))
        try:
            tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % p))
        except OSError:
            continue
        for tid in tids:
            base = "/proc/%d/task/%d/" % (p, tid)
            st = _read_proc(base + "stat")
            state = st[st.rfind(")") + 2:].split()[0] if ")" in st else "?"
            out.append("  tid %d %-16s %s wchan=%s syscall=%s" % (
                tid, _read_proc(base + "comm"), state, _read_proc(base + "wchan"),
                _read_proc(base + "syscall").split(" ")[0]))
    return "\n".join(out)


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(")") + 2:].split()[0] != "Z"


def wait_gone(pids, timeout):
    """The pids still alive after waiting up to timeout seconds for all of them to be gone."""
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = {p for p in left if alive(p)}
    return left


def is_executable_file(path):
    st = os.stat(path)
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def start_as_nobody(base, config):
    """lemu as uid/gid 65534, with a PATH that user can search (the interpreter lemu finds); the
    test is skipped where lemu cannot start as that user (a checkout that user cannot read)."""
    wrapper = os.path.join(base, "lemu-as-nobody")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups "
                "env PATH=/usr/local/bin:/usr/bin:/bin %s \"$@\"\n" % os.path.realpath(conftest.LEMU_BIN))
    os.chmod(wrapper, 0o755)
    saved = conftest.LEMU_BIN
    conftest.LEMU_BIN = wrapper
    try:
        server = conftest.LemuServer(base, config)
        try:
            server.start()
        except AssertionError as e:
            pytest.skip("lemu does not start as user nobody here: %s" % e)
        return server
    finally:
        conftest.LEMU_BIN = saved
