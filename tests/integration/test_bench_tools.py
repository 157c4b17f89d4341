"""The benchmark harness's own programs (tests/bench, issue 10) do what their rows claim.

tests/bench/run is not part of CI (it measures; timing assertions do not belong in tests), so its
three servers and its load client are checked here for behaviour only: the floor answers 200 {},
the relay (the design's throughput floor) hands every invoke to a real runtime and answers with
the event, and the load client counts what it sent and what came back. Built with the bench's
own Makefile into a temporary folder.
"""
import json
import os
import signal
import subprocess
import urllib.request

import pytest

from conftest import REPO, sample
from lemu_testlib import descendants, wait_gone

BENCH = os.path.join(REPO, "tests", "bench")
START_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench"))
    p = subprocess.run(["make", "-s", "-C", BENCH, "OUT=" + out], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "the bench's programs do not build:\n" + p.stdout + p.stderr
    return out


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("http://127.0.0.1:"), "%s printed %r" % (cmd[0], line)
    return proc, line


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(START_TIMEOUT_S)


def load(tools, url, conns, count, body='{"k":"v"}'):
    p = subprocess.run([os.path.join(tools, "lemu-load"), "-c", str(conns), "-n", str(count), "-d", "30",
                        "-b", body, url], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_floor_answers_200_empty_object(tools):
    proc, url = start([os.path.join(tools, "lemu-floor"), "0"])
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/", data=b'{"a":1}'), timeout=5) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/json"
            assert r.read() == b"{}"
        res = load(tools, url + "/", 4, 400)
        assert (res["requests"], res["errors"], res["non2xx"], res["status"]["2xx"]) == (400, 0, 0, 400)
    finally:
        stop(proc)


def test_relay_hands_every_invoke_to_a_runtime_and_answers_with_the_event(tools):
    proc, url = start([os.path.join(tools, "lemu-relay"), "3", os.path.join(sample("echo"), "bootstrap")])
    invoke = url + "/2015-03-31/functions/echo/invocations"
    try:
        runtimes = sorted(descendants(proc.pid))
        assert len(runtimes) == 3, runtimes
        for payload in (b'{"n": 1}', b'"text"', b'[' + b'7,' * 5000 + b'7]'):
            with urllib.request.urlopen(urllib.request.Request(invoke, data=payload), timeout=10) as r:
                assert r.status == 200
                assert r.read() == payload  # the echo runtime's answer, through both daemons
                assert r.headers["X-Amz-Executed-Version"] == "$LATEST"
                assert len(r.headers["x-amzn-RequestId"]) == 36
        # More connections than runtimes: invokes wait in the relay's queue, none is lost.
        res = load(tools, invoke, 8, 2000)
        assert (res["requests"], res["errors"], res["non2xx"], res["status"]["2xx"]) == (2000, 0, 0, 2000)
    finally:
        stop(proc)
    assert not wait_gone(runtimes, START_TIMEOUT_S), "the relay's runtimes outlived it"


def test_relay_refuses_a_bad_count(tools):
    p = subprocess.run([os.path.join(tools, "lemu-relay"), "0", "/bin/true"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 2
    assert "usage: lemu-relay N BOOTSTRAP" in p.stderr
