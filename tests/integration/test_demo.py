"""`lemu demo NAME` (issue 12): every scenario exits 0 against a fresh `lemu serve` of the sample
functions, one after another against the same server (each undoes what it changed), prints plain
text when its output is not a terminal and colour plus a progress line when it is (a pty here).
"""
import os
import pty
import re
import select
import subprocess
import time

import pytest

from conftest import LEMU_BIN

ESC = "\033["
API_FRONT_RE = re.compile(r"api gateway front on (http://127\.0\.0\.1:\d+)", re.I)


def demo(*args, timeout=120):
    return subprocess.run([LEMU_BIN, "demo", *args], capture_output=True, text=True, timeout=timeout)


def names():
    r = subprocess.run([LEMU_BIN, "demo", "--list"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    return r.stdout.split()


@pytest.fixture
def server(make_lemu, tmp_path):
    return make_lemu(args=["--state-dir", str(tmp_path / "state"), "--time-scale", "0.001",
                           "--api-listen", "127.0.0.1:0"])


def api_url(server):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = API_FRONT_RE.search(server.stderr_text())
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError("lemu named no API Gateway front on stderr:\n" + server.stderr_text())


def test_the_scenarios_of_the_issue_exist():
    # issue 12's seven, plus the VPC and access-denied kinds added since
    assert set(names()) == {"timeout", "throttling", "pending", "proxy-502", "efs", "kms", "async",
                            "vpc", "access-denied"}


def test_every_demo_exits_0_one_after_another_plain_text(server):
    front = api_url(server)
    for name in names():
        r = demo("--endpoint-url", server.url, "--api-url", front, name)
        assert r.returncode == 0, "demo %s exited %s:\n%s\n%s" % (name, r.returncode, r.stdout, r.stderr)
        assert ESC not in r.stdout, "colour codes in plain output of %s" % name
        assert r.stdout.startswith("\n== "), r.stdout[:200]
        assert r.stderr == ""
    # they cleaned up after themselves
    assert server.client().list_functions()["Functions"]
    faults = subprocess.run([LEMU_BIN, "fault", "--endpoint-url", server.url, "list"], capture_output=True,
                            text=True, timeout=10)
    assert faults.stdout.strip() == '{"Faults":[]}'


def test_colour_and_progress_on_a_terminal(server):
    """Under a pty the pending demo (it waits 2 s) draws colour and an in-place progress line."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([LEMU_BIN, "demo", "--endpoint-url", server.url, "pending"], stdout=slave,
                            stderr=slave, stdin=subprocess.DEVNULL, env=dict(os.environ, NO_COLOR="", TERM="xterm"))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(10) == 0, out.decode(errors="replace")
    text = out.decode(errors="replace")
    assert "\033[1m== Pending" in text
    assert re.search(r"\r  \033\[2m\[#*\.*\] +\d+\.\d s / 2 s  Pending", text), text


def test_colour_can_be_forced_or_refused(server):
    r = demo("--endpoint-url", server.url, "--color", "always", "efs")
    assert r.returncode == 0 and ESC in r.stdout
    assert demo("--color", "sometimes", "efs").returncode == 2


def test_usage_errors():
    r = demo("nonsense")
    assert r.returncode == 2 and "no scenario" in r.stderr
    assert demo().returncode == 2
    r = demo("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: lemu demo")


def test_a_demo_without_a_server_fails_clearly():
    r = demo("--endpoint-url", "http://127.0.0.1:9", "efs")
    assert r.returncode == 1
    assert "is `lemu serve` running there?" in r.stdout
