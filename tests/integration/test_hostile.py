"""Hostile handlers (issue 5 item 4): each sample under sample-functions/hostile/ gets AWS's
error, is contained (nothing it started outlives its environment), and lemu keeps answering a
healthy function during all of it. The seccomp filter refuses (EPERM) every call of lemu's deny
table inside the handler, and --no-sandbox turns it off. Reference §2.3, §4, §9.

Each hostile sample bounds itself (time, bytes, processes), so a lemu whose limits fail cannot
hurt the machine. The longest test (never calling /next: the 10 s init limit plus the 3 s
Timeout) has "heavy" in its name; the default command runs it.
"""
import json
import os
import re
import threading
import time

from conftest import REPO, sample
from lemu_testlib import (alive, assert_serving, decode_tail, descendants, echo_fn, fn, proc_table,
                          report_re, request_id, wait_gone)

INVALID_REQUEST_ID = {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}


def hostile(name):
    return sample(os.path.join("hostile", name))


def client(server, **kw):
    """One attempt per call (no botocore retries), enough pooled connections for threads."""
    kw.setdefault("max_pool_connections", 20)
    kw.setdefault("read_timeout", 60)
    return server.client(retries={"total_max_attempts": 1, "mode": "standard"}, **kw)


def tail_lines(resp):
    rid = request_id(resp)
    lines = decode_tail(resp)[:-1].split("\n")
    assert lines[0] == "START RequestId: %s Version: $LATEST" % rid, lines
    assert lines[-2] == "END RequestId: %s" % rid, lines
    return lines


def limits_line(server):
    """lemu's one startup line that names the limits in force (printed after the URL)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in server.stderr_text().splitlines():
            if line.startswith("lemu: limits: "):
                return line
        time.sleep(0.02)
    raise AssertionError("no 'lemu: limits:' line on stderr:\n" + server.stderr_text())


def pids_running(exe):
    """Pids of live (not zombie) processes whose executable is exe."""
    exe = os.path.realpath(exe)
    out = set()
    for pid, (_, _, state) in proc_table().items():
        if state == "Z":
            continue
        try:
            if os.readlink("/proc/%d/exe" % pid) == exe:
                out.add(pid)
        except OSError:
            pass
    return out


# How long a process that must die with its environment (or with lemu) may take to be gone: a
# bound for a loaded machine; wait_gone() returns as soon as they are.
GONE_WITHIN_S = 5.0


class Healthy:
    """Invokes echo in a loop in the background and records every answer's latency, so a test
    can show lemu kept serving while a hostile handler ran."""

    def __init__(self, server):
        self.c = client(server)
        self.latencies, self.failures = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            payload = json.dumps({"healthy": i}).encode()
            t = time.monotonic()
            try:
                resp = self.c.invoke(FunctionName="echo", Payload=payload)
                body = resp["Payload"].read()
                if body != payload or "FunctionError" in resp:
                    self.failures.append(body)
            except Exception as e:  # recorded, asserted by the test
                self.failures.append(repr(e))
            self.latencies.append(time.monotonic() - t)
            i += 1
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(30)

    def check(self, min_answers=3, max_latency=2.0):
        assert not self.failures, self.failures[:3]
        assert len(self.latencies) >= min_answers, "echo answered only %d times" % len(self.latencies)
        assert max(self.latencies) < max_latency, "echo took %.2fs at worst" % max(self.latencies)


# ---------------------------------------------------------------------------------------
# fork bomb, busy loop, stdout flood, closed stdout

def test_fork_bomb_is_capped_and_killed_with_the_environment(make_lemu):
    server = make_lemu({"Functions": [fn("forkbomb", hostile("forkbomb"), memory=512), echo_fn()]})
    exe = os.path.join(hostile("forkbomb"), "bootstrap")
    assert_serving(server)
    with Healthy(server) as healthy:
        t = time.monotonic()
        resp = client(server).invoke(FunctionName="forkbomb", Payload=b'{"seconds": 2}', LogType="Tail")
        elapsed = time.monotonic() - t
    rid = request_id(resp)
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: %s Error: Task timed out after 3.00 seconds" % rid}
    assert 2.9 < elapsed < 5, elapsed
    lines = tail_lines(resp)
    result = [l for l in lines if l.startswith("forkbomb result ")]
    assert result, lines
    stats = json.loads(result[0][len("forkbomb result "):])
    # The environment's process cap (1024, pids cgroup) stopped it: fork failed with EAGAIN
    # with the bomb's processes plus the runtime at the cap.
    assert stats["first_errno"] == "EAGAIN", stats
    assert stats["bomb_processes"] + 1 <= 1024, stats
    assert stats["bomb_processes"] > 100, stats
    assert report_re(rid, memory=512, tail=r"Status: timeout\t").match(lines[-1]), lines[-1]
    # Every process of the bomb died with the environment.
    left = wait_gone(pids_running(exe), GONE_WITHIN_S)
    assert not left, "%d fork bomb processes survived the timeout" % len(left)
    assert not pids_running(exe)
    healthy.check()
    assert_serving(server)


def test_busy_loop_past_the_timeout(make_lemu):
    server = make_lemu({"Functions": [fn("busy", hostile("busyloop"), timeout=2), echo_fn()]})
    exe = os.path.join(hostile("busyloop"), "bootstrap")
    assert_serving(server)
    with Healthy(server) as healthy:
        t = time.monotonic()
        resp = client(server).invoke(FunctionName="busy", Payload=b"{}", LogType="Tail")
        elapsed = time.monotonic() - t
    rid = request_id(resp)
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    assert resp["Payload"].read() == (
        b'{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: %s Error: Task timed out after '
        b'2.00 seconds"}' % rid.encode())
    assert 1.95 <= elapsed < 3.0, elapsed
    lines = tail_lines(resp)
    assert "spinning for " + rid in lines
    m = report_re(rid, tail=r"Status: timeout\t").match(lines[-1])
    assert m and m.group(1) == "2000.00" and m.group(2) == "2000", lines[-1]
    left = wait_gone(pids_running(exe), GONE_WITHIN_S)
    assert not left, "the spinning handler (SIGTERM ignored) survived its timeout: %r" % left
    healthy.check(max_latency=1.5)
    # The next invoke is a cold start in a fresh environment (and times out the same way).
    resp = client(server).invoke(FunctionName="busy", Payload=b"{}", LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    assert report_re(request_id(resp), tail=r"Status: timeout\t").match(tail_lines(resp)[-1])
    assert not wait_gone(pids_running(exe), GONE_WITHIN_S)
    assert_serving(server)


FLOOD_MB = 256     # in 1 KB lines: 262,144 lines (instead of the 1 GB: the same path,
NO_NEWLINE_MB = 64  # a quarter of the time); then 64 MB as one line without any newline


def test_stdout_flood(make_lemu):
    server = make_lemu({"Functions": [fn("flood", hostile("stdoutflood"), timeout=60), echo_fn()]})
    pid = server.proc.pid
    assert_serving(server)

    def rss_kb():
        with open("/proc/%d/status" % pid) as f:
            return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])

    rss0 = rss_kb()
    c = client(server)
    with Healthy(server) as healthy:
        t = time.monotonic()
        resp = c.invoke(FunctionName="flood", Payload=json.dumps({"mb": FLOOD_MB, "line": 1023}).encode(),
                        LogType="Tail")
        elapsed = time.monotonic() - t
        rss1 = rss_kb()
        resp2 = c.invoke(FunctionName="flood", Payload=json.dumps({"mb": NO_NEWLINE_MB, "line": 0}).encode())
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read())["written"] == FLOOD_MB * 1024 * 1024
    assert elapsed < 30, "flooding %d MB took %.1fs" % (FLOOD_MB, elapsed)
    # The tail is the last 4 KB: lines of the flood, then END and REPORT.
    lines = decode_tail(resp)[:-1].split("\n")  # cut at 4 KB: START is not in it
    assert lines[-1].startswith("REPORT RequestId: %s\t" % request_id(resp)), lines[-1]
    assert set(lines[-3]) == {"x"} and len(lines[-3]) == 1023, lines[-3][:80]
    assert json.loads(resp2["Payload"].read())["written"] == NO_NEWLINE_MB * 1024 * 1024
    healthy.check(max_latency=2.0)
    # Every line reached lemu's log (nothing dropped, nothing merged), and the endless line came
    # out in pieces of at most 256 KiB.
    server.wait_for_line(lambda l: l.startswith("[flood] REPORT RequestId: %s\t" % request_id(resp2)), timeout=30)
    flood = [l for l in server.lines() if l.startswith("[flood] x")]
    full = sum(1 for l in flood if len(l) == len("[flood] ") + 1023 + 1)
    assert full == FLOOD_MB * 1024, "%d of %d flood lines logged" % (full, FLOOD_MB * 1024)
    pieces = [len(l) - len("[flood] ") - 1 for l in flood if len(l) != len("[flood] ") + 1023 + 1]
    # The last piece may still wait in lemu's line buffer (no newline has ended it yet).
    assert NO_NEWLINE_MB * 1024 * 1024 - 256 * 1024 <= sum(pieces) <= NO_NEWLINE_MB * 1024 * 1024, (
        len(pieces), sum(pieces))
    assert max(pieces) <= 256 * 1024, max(pieces)
    # lemu streamed it: its memory did not grow with the flood.
    assert rss1 < rss0 + 32 * 1024, "lemu's VmRSS went from %d kB to %d kB during the flood" % (rss0, rss1)
    assert_serving(server)


def test_closed_stdout_and_stderr(make_lemu):
    server = make_lemu({"Functions": [fn("closed", hostile("closedstdout")), echo_fn()]})
    c = client(server)
    for i in range(1, 4):
        resp = c.invoke(FunctionName="closed", Payload=b"{}", LogType="Tail")
        assert "FunctionError" not in resp, resp["Payload"].read()
        assert json.loads(resp["Payload"].read()) == {"closed": True, "write_errno": "EBADF", "served": i}
        lines = tail_lines(resp)
        m = report_re(request_id(resp)).match(lines[-1])
        assert m, lines[-1]
        if i == 1:
            assert "closing stdout and stderr now" in lines
            assert m.group(4), "first invoke is a cold start"
        else:
            assert m.group(4) is None, "the environment was replaced although it never died"
            assert lines[1:-2] == [], lines
    complaints = [l for l in server.stderr_text().splitlines() if l.startswith(("lemu: error", "lemu: warning"))]
    assert not complaints, complaints
    assert_serving(server)


# ---------------------------------------------------------------------------------------
# Runtime API abuse: junk bytes, answering twice, wrong ids

def test_garbage_bytes_to_the_runtime_api(make_lemu):
    server = make_lemu({"Functions": [fn("garbage", hostile("garbage"), timeout=20), echo_fn()]})
    c = client(server)
    resp = c.invoke(FunctionName="garbage", Payload=b'{"wait": 1}')
    assert "FunctionError" not in resp
    doc = json.loads(resp["Payload"].read())
    junk = doc["junk"]
    names = [j["name"] for j in junk]
    assert names == ["nul_bytes", "not_http", "bad_version", "negative_content_length", "bad_chunk",
                     "cut_off", "random_64k", "request_line_100k", "header_200k"], names
    for j in junk:
        # Never accepted: an HTTP error, or the connection closed (0), or (lemu bug, see
        # test_limits.py::test_incomplete_runtime_api_requests_are_closed) left open (-1).
        assert j["status"] in (0, -1) or 400 <= j["status"] < 600, j
    by_name = {j["name"]: j["status"] for j in junk}
    # The pieces that are complete HTTP requests get an HTTP error answer.
    for name in ("not_http", "bad_version", "negative_content_length", "bad_chunk",
                 "request_line_100k", "header_200k"):
        assert 400 <= by_name[name] < 600, (name, by_name[name])
    assert_serving(server)

    # Junk, then the runtime exits without answering: AWS's Runtime.ExitError.
    resp = c.invoke(FunctionName="garbage", Payload=b'{"then": "exit", "light": true}')
    rid = request_id(resp)
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read()) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status 3" % rid}
    # And the function works again (cold start).
    resp = c.invoke(FunctionName="garbage", Payload=b'{"light": true}')
    assert "FunctionError" not in resp and len(json.loads(resp["Payload"].read())["junk"]) == 4
    assert_serving(server)


def test_response_posted_twice(make_lemu):
    server = make_lemu({"Functions": [fn("double", hostile("doubleresponse")), echo_fn()]})
    c = client(server)
    resp = c.invoke(FunctionName="double", Payload=b"{}")
    assert "FunctionError" not in resp
    assert resp["Payload"].read() == b'{"first": true}'
    report = json.loads(c.invoke(FunctionName="double", Payload=b'{"report": true}')["Payload"].read())
    assert report["first_status"] == 202, report
    for key in ("second_response", "error_after_response"):
        assert report[key]["status"] == 403, report
        doc = json.loads(report[key]["body"])
        assert doc["errorType"] == "InvalidStateTransition", doc
        assert sorted(doc) == ["errorMessage", "errorType"], doc
    # The environment is unharmed: it answers again (and again refuses the extra posts).
    resp = c.invoke(FunctionName="double", Payload=b"{}")
    assert resp["Payload"].read() == b'{"first": true}'
    assert_serving(server)


def test_response_posted_twice_message_is_the_rie_text(make_lemu):
    """The exact messages of the RIE (aws-lambda-runtime-interface-emulator,
    internal/lambda/rapi/handler/invocationresponse.go and invocationerror.go with the state
    names of internal/lambda/core/runtime_state_names.go): the target state of a /response is
    "InvocationResponse", of an /error "InvocationErrorResponse"; the state after an answer
    is "RuntimeResponseSentState"."""
    server = make_lemu({"Functions": [fn("double", hostile("doubleresponse"))]})
    c = client(server)
    c.invoke(FunctionName="double", Payload=b"{}")["Payload"].read()
    report = json.loads(c.invoke(FunctionName="double", Payload=b'{"report": true}')["Payload"].read())
    assert json.loads(report["second_response"]["body"]) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse failed "
                        "for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition"}
    assert json.loads(report["error_after_response"]["body"]) == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationErrorResponse "
                        "failed for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition"}


def test_wrong_request_id(make_lemu):
    server = make_lemu({"Functions": [fn("wrongid", hostile("wrongid")), echo_fn()]})
    c = client(server)
    for i in range(2):
        resp = c.invoke(FunctionName="wrongid", Payload=b"{}")
        assert "FunctionError" not in resp  # the real answer went through after all of them
        attempts = json.loads(resp["Payload"].read())
        expected = {"made_up_response", "made_up_error", "upper_case_response"}
        if i == 1:
            expected.add("previous_response")  # the id of the invocation before, on a warm env
        assert set(attempts) == expected, attempts
        for name, a in attempts.items():
            assert a["status"] == 400, (name, a)
            assert json.loads(a["body"]) == INVALID_REQUEST_ID, (name, a)
    assert_serving(server)


# ---------------------------------------------------------------------------------------
# init: never calling /next, exiting during init

def test_heavy_never_calling_next_hits_the_init_limit(make_lemu):
    server = make_lemu({"Functions": [fn("nonext", hostile("nonext"), timeout=3), echo_fn()]})
    assert_serving(server)
    with Healthy(server) as healthy:
        t = time.monotonic()
        resp = client(server).invoke(FunctionName="nonext", Payload=b"{}", LogType="Tail")
        elapsed = time.monotonic() - t
    rid = request_id(resp)
    assert resp["FunctionError"] == "Unhandled"
    assert resp["Payload"].read() == (
        b'{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: %s Error: Task timed out after '
        b'3.00 seconds"}' % rid.encode())
    # 10 s of init (the on-demand limit), then the retried init runs into the 3 s Timeout.
    assert 12.9 <= elapsed < 14.5, elapsed
    server.wait_for_line(lambda l: l.startswith("[nonext] REPORT RequestId: %s\t" % rid))
    out = [l.rstrip("\n") for l in server.lines() if l.startswith("[nonext] ")]
    init_reports = [l for l in out if "INIT_REPORT" in l]
    assert init_reports == ["[nonext] INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout"], out
    lines = tail_lines(resp)
    m = report_re(rid, tail=r"Status: timeout\t").match(lines[-1])
    assert m and m.group(1) == "3000.00" and m.group(4) is None, lines[-1]
    assert out.index(init_reports[0]) < out.index("[nonext] " + lines[-1])
    # Two runtime processes were started (the init and its retry); both are gone.
    pids = [int(m.group(1)) for m in (re.match(r"\[nonext\] initializing forever \(pid (\d+)\)", l) for l in out) if m]
    assert len(pids) == 2, out
    assert not wait_gone(pids, GONE_WITHIN_S), "a runtime that never called /next survived"
    healthy.check(min_answers=20)
    assert_serving(server)


def test_exit_during_init(make_lemu):
    server = make_lemu({"Functions": [
        fn("initexit", hostile("initexit")),
        fn("initkill", hostile("initexit"), env={"INIT_SIGNAL": "KILL"}),
        echo_fn()]})
    c = client(server)
    for _ in range(2):  # every invoke re-inits, and fails the same way
        resp = c.invoke(FunctionName="initexit", Payload=b"{}")
        rid = request_id(resp)
        assert resp["FunctionError"] == "Unhandled"
        assert resp["Payload"].read() == (
            b'{"errorType":"Runtime.ExitError","errorMessage":"RequestId: %s Error: Runtime exited '
            b'with error: exit status 7"}' % rid.encode())
    # Killed by a signal during init: "signal: killed", and not mistaken for out of memory.
    resp = c.invoke(FunctionName="initkill", Payload=b"{}")
    rid = request_id(resp)
    assert json.loads(resp["Payload"].read()) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: %s Error: Runtime exited with error: signal: killed" % rid}
    assert_serving(server)


def test_crash_report_has_init_duration_and_real_memory(make_lemu):
    """A cold start that crashes is still a cold start with a real memory peak: REPORT carries
    Init Duration and a non-zero Max Memory Used (reference §3; issue 5: "Max Memory Used is
    real on every invoke")."""
    server = make_lemu({"Functions": [fn("crash", sample("crash")), fn("exit3", hostile("garbage"))]})
    c = client(server)
    for name, payload in (("crash", b"{}"), ("exit3", b'{"then": "exit", "light": true}')):
        resp = c.invoke(FunctionName=name, Payload=payload, LogType="Tail")
        assert resp["FunctionError"] == "Unhandled"
        report = tail_lines(resp)[-1]
        m = report_re(request_id(resp), tail=r"Status: error\tError Type: Runtime\.ExitError\t").match(report)
        assert m, report
        assert int(m.group(3)) > 0, "Max Memory Used 0 MB for a process that ran: %r" % report
        assert m.group(4), "no Init Duration on a cold start that crashed: %r" % report


# ---------------------------------------------------------------------------------------
# a daemonised grandchild dies with its environment

def read_marker(path, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                parts = f.read().split()
            if len(parts) == 2:
                return int(parts[0]), int(parts[1])
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError("no marker in %s" % path)


def session_and_group(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[3]), int(rest[2])  # session, process group


def test_daemon_grandchild_dies_with_the_environment(make_lemu, tmp_path):
    server = make_lemu({"Functions": [fn("daemon", hostile("daemon"), timeout=2),
                                      fn("daemon-warm", hostile("daemon"), timeout=2), echo_fn()]})
    c = client(server)
    lemu = server.proc.pid

    def start(then, marker, name="daemon"):
        t = time.monotonic()
        resp = c.invoke(FunctionName=name, Payload=json.dumps({"marker": marker, "then": then}).encode())
        return resp, json.loads(resp["Payload"].read()), t

    # then=answer: the environment stays warm and so does its daemon (the check is meaningful:
    # the daemon really runs, in a session and group of its own).
    warm_marker = str(tmp_path / "warm")
    resp, body, _ = start("answer", warm_marker, name="daemon-warm")
    warm_pid = body["grandchild"]
    assert read_marker(warm_marker)[0] == warm_pid
    # The environment's runtime leads its own process group; the daemon (reparented to lemu,
    # lemu being a subreaper) is in a session and group of the intermediate child it left.
    leaders = [p for p, v in descendants(lemu).items() if v[0] == lemu and v[1] == p]
    sid, pgid = session_and_group(warm_pid)
    assert leaders and warm_pid not in leaders, (warm_pid, leaders)
    assert sid == pgid and pgid not in leaders and pgid != warm_pid, (sid, pgid, leaders)
    n0 = read_marker(warm_marker)[1]
    time.sleep(0.35)
    assert read_marker(warm_marker)[1] > n0, "the daemon does not run"

    for then, error in (("hang", "Sandbox.Timedout"), ("crash", "Runtime.ExitError"), ("exit", None)):
        marker = str(tmp_path / then)
        resp, body, t = start(then, marker)
        ended = time.monotonic()
        if error:
            assert resp["FunctionError"] == "Unhandled" and body["errorType"] == error, (then, body)
            if then == "crash":
                assert body["errorMessage"].endswith("Runtime exited with error: exit status 9"), body
        else:
            assert "FunctionError" not in resp and body["grandchild"] > 0, body
        pid = read_marker(marker)[0]
        left = wait_gone([pid], GONE_WITHIN_S)
        assert not left, "the daemon of a '%s' environment is alive %.1fs after it ended" % (
            then, time.monotonic() - ended)
        n = read_marker(marker)[1]
        time.sleep(0.3)
        assert read_marker(marker)[1] == n, "the marker still changes: something writes it"

    assert alive(warm_pid), "the warm environment's daemon died although its environment lives"
    assert_serving(server)
    # SIGTERM to lemu: nothing it started survives it.
    everything = set(descendants(lemu)) | {warm_pid}
    server.stop()
    left = wait_gone(everything, GONE_WITHIN_S)
    assert not left, "processes survived lemu's exit: %r" % left


def test_daemon_grandchild_dies_without_cgroups_too(make_lemu, tmp_path, monkeypatch):
    """In the fallback mode (no cgroups: LEMU_NO_CGROUP=1, RSS sampling) a daemon that left the
    environment's process group must still die with its environment, and with lemu."""
    monkeypatch.setenv("LEMU_NO_CGROUP", "1")
    server = make_lemu({"Functions": [fn("daemon", hostile("daemon"), timeout=2), echo_fn()]})
    c = client(server)
    pids = []
    try:
        for then in ("crash", "hang"):
            marker = str(tmp_path / then)
            resp = c.invoke(FunctionName="daemon", Payload=json.dumps({"marker": marker, "then": then}).encode())
            assert resp["FunctionError"] == "Unhandled", resp["Payload"].read()
            pids.append(read_marker(marker)[0])
            left = wait_gone([pids[-1]], GONE_WITHIN_S)
            assert not left, "without cgroups, the daemon of a '%s' environment outlived it" % then
        server.stop()
        left = wait_gone(pids, GONE_WITHIN_S)
        assert not left, "without cgroups, daemons outlived lemu: %r" % left
    finally:
        for pid in pids:  # never leave them behind on the machine (they end after 30 s anyway)
            if alive(pid):
                os.kill(pid, 9)


# ---------------------------------------------------------------------------------------
# seccomp

def denied_syscalls_table():
    """The deny table of emulator/sandbox.c (denied_syscalls[]), read from the source."""
    with open(os.path.join(REPO, "emulator", "sandbox.c")) as f:
        src = f.read()
    m = re.search(r"denied_syscalls\[\]\s*=\s*\{(.*?)\};", src, re.S)
    assert m, "no denied_syscalls table in emulator/sandbox.c"
    return re.findall(r'"([a-z0-9_]+)"', m.group(1))


# Probes whose harmless arguments make the call fail with something other than EPERM (or
# succeed) when no filter is in place and lemu runs as root; on this kind of machine.
NOT_EPERM_AS_ROOT = ["mount", "umount2", "pivot_root", "chroot", "reboot", "swapon", "swapoff",
                     "keyctl", "add_key", "request_key", "setns", "unshare", "clone_newuts",
                     "sethostname", "setdomainname", "clock_settime", "acct", "ptrace_child"]


def test_seccomp_denies_each_syscall_with_eperm(make_lemu):
    server = make_lemu({"Functions": [fn("seccomp", hostile("seccomp")), echo_fn()]})
    line = limits_line(server)
    assert "seccomp on" in line, line
    resp = client(server).invoke(FunctionName="seccomp", Payload=b"{}")
    assert "FunctionError" not in resp
    results = json.loads(resp["Payload"].read())
    # Every call of lemu's table is probed, and ptrace of another process (lemu, a child), and a
    # namespace through clone().
    table = denied_syscalls_table()
    for required in ("mount", "umount2", "reboot", "kexec_load", "init_module", "finit_module",
                     "delete_module", "swapon", "swapoff", "pivot_root", "bpf", "perf_event_open",
                     "keyctl", "setns", "unshare"):
        assert required in table, "%s is missing from lemu's deny table" % required
    missing = [s for s in table if s not in results]
    assert not missing, "the seccomp sample has no probe for %r" % missing
    for extra in ("ptrace_parent", "ptrace_child", "clone_newuts"):
        assert extra in results
    # The 32-bit ABI cannot be used to get around the table: the process is killed (SIGSYS).
    int80 = results.pop("int80_getpid", None)
    if os.uname().machine == "x86_64":
        assert int80 == "KILLED_BY_SIGSYS", int80
    not_eperm = {k: v for k, v in results.items() if v != "EPERM"}
    assert not not_eperm, "not refused with EPERM under the filter: %r" % not_eperm
    assert_serving(server)


def test_no_sandbox_turns_the_filter_off(make_lemu):
    server = make_lemu({"Functions": [fn("seccomp", hostile("seccomp")), echo_fn()]}, args=["--no-sandbox"])
    line = limits_line(server)
    assert "seccomp off" in line, line
    probes = NOT_EPERM_AS_ROOT if os.geteuid() == 0 else ["keyctl", "setns", "ptrace_child"]
    if os.uname().machine == "x86_64":
        probes = probes + ["int80_getpid"]
    resp = client(server).invoke(FunctionName="seccomp", Payload=json.dumps({"only": probes}).encode())
    results = json.loads(resp["Payload"].read())
    assert set(results) == set(probes), results
    eperm = sorted(k for k, v in results.items() if v == "EPERM")
    assert not eperm, "still EPERM with --no-sandbox: %r (all: %r)" % (eperm, results)
    assert results["keyctl"] == "EOPNOTSUPP", results  # an unknown keyctl command
    if os.geteuid() == 0:
        assert results["unshare"] == "OK", results       # in a throwaway child process
    if "int80_getpid" in results:
        assert results["int80_getpid"] == "OK", results
    assert_serving(server)
