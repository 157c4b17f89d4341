"""Execution environments: timeouts that kill the whole process group, crashes, function
errors, init failures, START/END/REPORT logs and Tail, warm reuse and cold starts, parallel
environments, and SIGTERM leaving no handler behind. Reference §2.3, §3, §4, §9.
"""
import json
import math
import os
import signal
import threading
import time

from conftest import sample
from lemu_testlib import (INIT_ERROR_RUNTIME, assert_serving, decode_tail, descendants, echo_fn,
                          fn, proc_table, report_re, request_id, run_cli, write_bootstrap)


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


class PgidWatcher:
    """Records the process groups of every descendant of lemu while it runs."""

    def __init__(self, pid):
        self.pid = pid
        self.pgids = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            lemu_exe = _exe(self.pid)
            for child, (_, pgid, _) in descendants(self.pid).items():
                # A child between lemu's fork and its exec is still lemu (and joins its own
                # process group a moment later): only count processes that run the handler.
                if lemu_exe is None or _exe(child) != lemu_exe:
                    self.pgids.add(pgid)
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def processes_in_groups(pgids):
    return {p: v for p, v in proc_table().items() if v[1] in pgids}


def wait_groups_empty(pgids, timeout):
    deadline = time.monotonic() + timeout
    left = processes_in_groups(pgids)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = processes_in_groups(pgids)
    return left


def describe(procs):
    out = []
    for p, (pp, pg, st) in sorted(procs.items()):
        try:
            cmd = open("/proc/%d/cmdline" % p, "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmd = "?"
        out.append("pid %d ppid %d pgid %d state %s: %s" % (p, pp, pg, st, cmd))
    return "\n".join(out)


def log_lines(tail, rid):
    """The decoded Tail as lines; asserts START first, END before REPORT, REPORT last."""
    assert tail.endswith("\n"), repr(tail[-80:])
    lines = tail[:-1].split("\n")
    start = "START RequestId: %s Version: $LATEST" % rid
    end = "END RequestId: %s" % rid
    assert lines[0] == start, lines
    assert lines.count(end) == 1, lines
    assert lines[-2] == end, lines
    return lines


# ---------------------------------------------------------------------------------------
# timeout

def test_timeout_kills_the_handler_and_reports_aws_error(make_lemu):
    server = make_lemu({"Functions": [fn("sleepy", sample("sleep"), timeout=1), echo_fn()]})
    c = server.client()
    with PgidWatcher(server.proc.pid) as watch:
        t = time.monotonic()
        resp = c.invoke(FunctionName="sleepy", Payload=b"5", LogType="Tail")
        elapsed = time.monotonic() - t
    rid = request_id(resp)
    body = resp["Payload"].read()
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(body) == {"errorType": "Sandbox.Timedout",
                                "errorMessage": "RequestId: %s Error: Task timed out after 1.00 seconds" % rid}
    assert 0.95 <= elapsed < 2.0, "timeout answered after %.2fs" % elapsed

    lines = log_lines(decode_tail(resp), rid)
    m = report_re(rid, tail=r"(?:Status: timeout\t)?").match(lines[-1])
    assert m, lines[-1]
    assert 1000.0 <= float(m.group(1)) < 1200.0, "REPORT Duration %s for a 1 s timeout" % m.group(1)
    server.wait_for_line(lambda l: l.startswith("[sleepy] REPORT RequestId: %s\t" % rid))

    # The environment's whole process group is gone (bash and its `sleep 5`).
    assert watch.pgids, "never saw the handler's process"
    assert server.proc.pid not in watch.pgids, "handler ran in lemu's own process group"
    left = wait_groups_empty(watch.pgids, 1.0)
    assert not left, "handler processes survived the timeout:\n" + describe(left)

    # The next invoke works, and is a cold start.
    resp = c.invoke(FunctionName="sleepy", Payload=b"0", LogType="Tail")
    rid2 = request_id(resp)
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp, resp["Payload"].read()
    m = report_re(rid2).match(log_lines(decode_tail(resp), rid2)[-1])
    assert m and m.group(4), "invoke after a timeout is not a cold start"
    assert_serving(server)


# ---------------------------------------------------------------------------------------
# crash / function error

def test_crash_is_runtime_exit_error(make_lemu):
    server = make_lemu({"Functions": [fn("crash", sample("crash")), echo_fn()]})
    c = server.client()
    for _ in range(2):
        resp = c.invoke(FunctionName="crash", Payload=b'{"x":1}')
        rid = request_id(resp)
        assert resp["StatusCode"] == 200
        assert resp["FunctionError"] == "Unhandled"
        assert resp["ExecutedVersion"] == "$LATEST"
        assert json.loads(resp["Payload"].read()) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status 1" % rid}
    assert_serving(server)


def test_fail_is_unhandled_function_error(make_lemu, tmp_path):
    server = make_lemu({"Functions": [fn("fail", sample("fail")), echo_fn()]})
    resp = server.client().invoke(FunctionName="fail", Payload=b"{}")
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-function-error"] == "Unhandled"
    doc = json.loads(resp["Payload"].read())
    assert doc["errorType"] == "HandlerError"
    assert doc["errorMessage"] == "this function always fails"

    out = tmp_path / "fail-out.json"
    r = run_cli(server, ["lambda", "invoke", "--function-name", "fail", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}
    cli_doc = json.loads(out.read_bytes())
    assert (cli_doc["errorType"], cli_doc["errorMessage"]) == ("HandlerError", "this function always fails")
    assert_serving(server)


# ---------------------------------------------------------------------------------------
# init failures

INIT_BODY = '{"errorMessage":"init went boom","errorType":"Custom.InitBoom","stackTrace":[]}'


def test_init_failures(make_lemu, tmp_path):
    exit3 = str(tmp_path / "exit3")
    write_bootstrap(exit3, "#!/bin/sh\necho about to exit 3\nexit 3\n")
    initerr = str(tmp_path / "initerr")
    write_bootstrap(initerr, INIT_ERROR_RUNTIME)
    missing = str(tmp_path / "nobootstrap")
    os.makedirs(missing)
    noexec = str(tmp_path / "noexec")
    write_bootstrap(noexec, "#!/bin/sh\nexit 0\n", mode=0o644)
    server = make_lemu({"Functions": [
        fn("exit3", exit3), fn("initerr", initerr, env={"INIT_ERROR_BODY": INIT_BODY}),
        fn("nobootstrap", missing), fn("noexec", noexec), echo_fn()]})
    c = server.client()
    real = os.path.realpath

    for _ in range(2):  # init is retried on the next invoke, with the same answer
        resp = c.invoke(FunctionName="exit3", Payload=b"{}")
        rid = request_id(resp)
        assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
        assert json.loads(resp["Payload"].read()) == {
            "errorType": "Runtime.ExitError",
            "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status 3" % rid}
        assert_serving(server)

        resp = c.invoke(FunctionName="initerr", Payload=b"{}")
        assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
        assert resp["Payload"].read() == INIT_BODY.encode()
        assert_serving(server)

        resp = c.invoke(FunctionName="nobootstrap", Payload=b"{}")
        rid = request_id(resp)
        assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
        assert json.loads(resp["Payload"].read()) == {
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": "RequestId: %s Error: fork/exec %s/bootstrap: no such file or directory" % (rid, real(missing))}
        assert_serving(server)

        resp = c.invoke(FunctionName="noexec", Payload=b"{}")
        rid = request_id(resp)
        assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
        assert json.loads(resp["Payload"].read()) == {
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": "RequestId: %s Error: fork/exec %s/bootstrap: permission denied" % (rid, real(noexec))}
        assert_serving(server)


# ---------------------------------------------------------------------------------------
# logs

def test_log_tail_and_stdout(lemu_default):
    c = lemu_default.client()
    resp = c.invoke(FunctionName="sleep", Payload=b"0", LogType="Tail")
    rid = request_id(resp)
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    lines = log_lines(decode_tail(resp), rid)
    m = report_re(rid).match(lines[-1])
    assert m, repr(lines[-1])
    duration, billed, init = float(m.group(1)), int(m.group(2)), m.group(4)
    assert init is not None, "first invoke has no Init Duration"
    assert math.ceil(duration) <= billed <= math.ceil(duration) + 1, (duration, billed)
    handler_lines = [l for l in lines[1:-2] if l.strip()]
    assert handler_lines, "the handler's output is not between START and END: %r" % lines

    # lemu's stdout carries the same lines, tagged with the function name.
    lemu_default.wait_for_line(lambda l: l.rstrip("\n") == "[sleep] START RequestId: %s Version: $LATEST" % rid)
    lemu_default.wait_for_line(lambda l: l.rstrip("\n") == "[sleep] END RequestId: %s" % rid)
    report = lemu_default.wait_for_line(lambda l: l.startswith("[sleep] REPORT RequestId: %s\t" % rid))
    assert report_re(rid).match(report[len("[sleep] "):].rstrip("\n")), repr(report)
    for hl in handler_lines:
        lemu_default.wait_for_line(lambda l, hl=hl: l.rstrip("\n") == "[sleep] " + hl)

    # A warm invoke: no Init Duration.
    resp = c.invoke(FunctionName="sleep", Payload=b"0", LogType="Tail")
    rid2 = request_id(resp)
    lines = log_lines(decode_tail(resp), rid2)
    m = report_re(rid2).match(lines[-1])
    assert m, repr(lines[-1])
    assert m.group(4) is None, "warm invoke reports Init Duration"

    # Without LogType there is no LogResult.
    resp = c.invoke(FunctionName="sleep", Payload=b"0")
    assert "LogResult" not in resp


def test_aws_cli_log_tail(lemu_default, tmp_path):
    import base64
    r = run_cli(lemu_default, ["lambda", "invoke", "--function-name", "echo", "--cli-binary-format",
                               "raw-in-base64-out", "--payload", "{}", "--log-type", "Tail",
                               "--query", "LogResult", "--output", "text", str(tmp_path / "o.json")], tmp_path)
    assert r.returncode == 0, r.stderr
    log = base64.b64decode(r.stdout.strip()).decode()
    assert log.startswith("START RequestId: ") and "\nEND RequestId: " in log and "\nREPORT RequestId: " in log, log


# ---------------------------------------------------------------------------------------
# environments in parallel

def test_busy_environment_gets_a_new_one(make_lemu):
    server = make_lemu({"Functions": [fn("sleep", sample("sleep"), timeout=5)]})
    client = server.client(max_pool_connections=3)
    out = []

    def call():
        out.append(client.invoke(FunctionName="sleep", Payload=b'{"seconds": 1}'))

    threads = [threading.Thread(target=call) for _ in range(3)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    elapsed = time.monotonic() - t
    assert len(out) == 3
    for resp in out:
        assert resp["StatusCode"] == 200 and "FunctionError" not in resp, resp["Payload"].read()
    assert elapsed < 2.5, "3 concurrent 1 s sleeps took %.2fs: environments are not parallel" % elapsed


# ---------------------------------------------------------------------------------------
# SIGTERM

def test_sigterm_stops_fast_and_leaves_no_handler(make_lemu):
    n = 4
    server = make_lemu({"Functions": [fn("sleep", sample("sleep"), timeout=60)]})
    pid = server.proc.pid
    client = server.client(max_pool_connections=n, read_timeout=70)
    outcomes = []

    def call():
        try:
            outcomes.append(client.invoke(FunctionName="sleep", Payload=b"30"))
        except Exception as e:  # the connection goes away with lemu
            outcomes.append(e)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(n)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 10
    while True:
        table = proc_table()
        kids = {p: v for p, v in table.items() if v[0] == pid}
        if len(kids) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(kids) >= n, "expected %d environments, lemu has children:\n%s" % (n, describe(kids))
    time.sleep(0.5)  # let each handler reach its sleep
    # Read the table again: a child seen above may have been between its fork and its setpgid.
    kids = {p: v for p, v in proc_table().items() if v[0] == pid}
    procs = descendants(pid)
    pgids = {v[1] for v in procs.values()}
    for p, (_, pg, _) in kids.items():
        assert pg == p, "environment %d is not the leader of its own process group (pgid %d)" % (p, pg)
    assert os.getpgid(pid) not in pgids

    t = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=1.0)
    except Exception:
        pass
    elapsed = time.monotonic() - t
    still_running = server.proc.poll() is None
    if still_running:
        server.proc.kill()
        server.proc.wait(5)
    assert not still_running, "lemu still running %.2fs after SIGTERM" % elapsed
    assert elapsed <= 1.0
    assert server.proc.returncode == 0, server.stderr_text()

    left = wait_groups_empty(pgids, 0.5)
    if left:
        for pg in pgids:
            try:
                os.killpg(pg, signal.SIGKILL)
            except OSError:
                pass
    assert not left, "processes of lemu's environments survived SIGTERM:\n" + describe(left)
    for th in threads:
        th.join(5)
    assert len(outcomes) == n


def _vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_echo_sample_does_not_grow_per_invoke(make_lemu):
    """The echo sample hands each invocation's trace id to its handler in _X_AMZN_TRACE_ID. With
    setenv() glibc kept every value ever set (~100 bytes per invoke, for the environment's life:
    1M invokes would outgrow its 128 MB); the bootstrap's resident size must stay flat."""
    import http.client
    server = make_lemu({"Functions": [echo_fn()]})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def invoke(n):
        for _ in range(n):
            conn.request("POST", "/2015-03-31/functions/echo/invocations", body=b'{"k":"v"}')
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b'{"k":"v"}'

    invoke(2000)  # warm: buffers at their working size
    pids = [p for p in descendants(server.proc.pid) if _exe(p) == os.path.realpath(sample("echo") + "/bootstrap")]
    assert len(pids) == 1, pids
    before = _vm_rss_kb(pids[0])
    invoke(16000)  # ~1.6 MB more if each invoke kept its trace id
    after = _vm_rss_kb(pids[0])
    conn.close()
    assert after - before < 512, "the echo bootstrap grew from %d to %d kB over 16,000 invokes" % (before, after)
