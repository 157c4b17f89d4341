"""The live page /lemu/ui (issue 12) in a real headless Chromium (Debian's chromium, driven by
chromedriver over the W3C WebDriver protocol: plain HTTP + JSON, no client library). The test
causes a throttle and a timeout and waits for both request ids on the page's timeline, coloured by
outcome; adds and clears a fault rule with the page's buttons; and saves a screenshot as a test
artifact ($LEMU_TEST_ARTIFACTS, default build/test-artifacts/ui.png).

Also checks the page's endpoints without a browser: the static files, /lemu/v1/state and the
server-sent events of /lemu/v1/events.
"""
import base64
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from conftest import REPO, sample
from lemu_testlib import fn

CHROMIUM = os.environ.get("LEMU_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LEMU_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = os.environ.get("LEMU_TEST_ARTIFACTS") or os.path.join(REPO, "build", "test-artifacts")
# The flags this machine needs (see the environment notes): no sandbox as root, and none of
# Chromium's background connections, which the closed network refuses.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1100"]
WAIT_S = 20


def http(method, url, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}, **(
        {"Content-Type": "application/json"} if data else {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def server(make_lemu, tmp_path):
    config = {"Functions": [fn("echo", sample("echo")),
                            fn("slow", sample("sleep"), timeout=1, ReservedConcurrentExecutions=1)]}
    return make_lemu(config, args=["--state-dir", str(tmp_path / "state")])


def no_retry(server):
    return server.client(retries={"total_max_attempts": 1, "mode": "standard"})


def throttle_and_timeout(server):
    """A timeout of `slow` (sleeps 3 s, Timeout 1) and, while it runs, a throttled invoke of it
    (ReservedConcurrentExecutions 1). Returns (timeout request id, throttle request id)."""
    c = no_retry(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(c.invoke, FunctionName="slow", Payload=b"3")
        deadline = time.monotonic() + 5
        while True:
            state = json.loads(http("GET", server.url + "/lemu/v1/state")[2])
            if [f for f in state["Functions"] if f["FunctionName"] == "slow"][0]["ConcurrentExecutions"] == 1:
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(botocore.exceptions.ClientError) as e:
            c.invoke(FunctionName="slow", Payload=b"0")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        throttled = e.value.response["ResponseMetadata"]["RequestId"]
        resp = running.result()
    assert json.loads(resp["Payload"].read())["errorType"] == "Sandbox.Timedout"
    return resp["ResponseMetadata"]["RequestId"], throttled


# ---- without a browser --------------------------------------------------------------------

def test_static_files_and_nothing_else(server):
    for path, ctype in (("/lemu/ui", "text/html"), ("/lemu/ui/", "text/html"), ("/lemu/ui/index.html", "text/html"),
                        ("/lemu/ui/app.js", "text/javascript"), ("/lemu/ui/style.css", "text/css")):
        status, headers, body = http("GET", server.url + path)
        assert status == 200 and headers["Content-Type"].startswith(ctype) and body, path
    assert b"https://" not in http("GET", server.url + "/lemu/ui")[2]  # no CDN
    for path in ("/lemu/ui/conftest.py", "/lemu/ui/..%2f..%2fCMakeLists.txt", "/lemu/ui/nope.js"):
        assert http("GET", server.url + path)[0] == 404, path


def test_state_snapshot(server):
    no_retry(server).invoke(FunctionName="echo", Payload=b"{}")
    deadline = time.monotonic() + 5
    while True:  # the environment is Answered until its runtime asks for the next event
        s = json.loads(http("GET", server.url + "/lemu/v1/state")[2])
        if [e["State"] for e in s["Environments"]] == ["Idle"] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    fns = {f["FunctionName"]: f for f in s["Functions"]}
    assert fns["slow"] == {"FunctionName": "slow", "Runtime": "provided.al2023", "State": "Active", "Timeout": 1,
                           "MemorySize": 128, "ReservedConcurrentExecutions": 1, "ConcurrentExecutions": 0}
    assert fns["echo"]["ReservedConcurrentExecutions"] is None
    assert [e["Function"] for e in s["Environments"]] == ["echo"]
    assert s["Environments"][0]["Warm"] is True and s["Environments"][0]["State"] == "Idle"
    assert "throttle" in s["FaultKinds"] and "timeout" in s["FaultKinds"]
    assert s["Queue"] == [] and s["Faults"] == [] and s["LastEvent"] == 1


def test_server_sent_events(server):
    status, headers, body = http("GET", server.url + "/lemu/v1/events")  # first request: at once
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    assert body.decode() == "retry: 100\n\nid: 0\n\n"
    timed_out, throttled = throttle_and_timeout(server)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Last-Event-ID at the newest event: the request waits for the next one
        newest = json.loads(http("GET", server.url + "/lemu/v1/state")[2])["LastEvent"]
        waiting = pool.submit(http, "GET", server.url + "/lemu/v1/events", None, {"Last-Event-ID": str(newest)})
        time.sleep(0.3)
        assert not waiting.done()
        echo_rid = no_retry(server).invoke(FunctionName="echo", Payload=b"{}")["ResponseMetadata"]["RequestId"]
        body = waiting.result(timeout=5)[2].decode()
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [(e["Type"], e["Function"], e["RequestId"], e["Outcome"]) for e in events] == [
        ("invocation", "echo", echo_rid, "success")]
    assert body.endswith("id: %d\n\n" % (newest + 1))
    everything = http("GET", server.url + "/lemu/v1/events?since=0")[2].decode()
    outcomes = {(json.loads(l[6:])["RequestId"], json.loads(l[6:])["Outcome"])
                for l in everything.splitlines() if l.startswith("data: ")}
    assert (timed_out, "timeout") in outcomes and (throttled, "throttle") in outcomes


# ---- in Chromium ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A W3C WebDriver session of chromedriver + headless Chromium."""

    def __init__(self, tmp_path):
        for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            assert os.access(path, os.X_OK), ("%s is missing: install the Debian package %s (tools/setup "
                                              "--deps-only installs tools/debian-packages.txt)" % (path, pkg))
        self.port = free_port()
        self.log = open(tmp_path / "chromedriver.log", "w")
        self.proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % self.port], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.base = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 15
        while True:
            try:
                if json.loads(http("GET", self.base + "/status", timeout=2)[2])["value"]["ready"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": CHROMIUM_ARGS + ["--user-data-dir=%s" % (tmp_path / "chromium")]}}}}
        status, _, body = http("POST", self.base + "/session", caps, timeout=60)
        assert status == 200, body
        self.session = self.base + "/session/" + json.loads(body)["value"]["sessionId"]

    def cmd(self, method, path, body=None):
        status, _, data = http(method, self.session + path, body, timeout=60)
        value = json.loads(data)["value"] if data else None
        assert status == 200, value
        return value

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script, *args, what="condition"):
        deadline = time.monotonic() + WAIT_S
        while True:
            value = self.js(script, *args)
            if value:
                return value
            assert time.monotonic() < deadline, "page never showed: %s" % what
            time.sleep(0.1)

    def click(self, css):
        el = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        self.cmd("POST", "/element/%s/click" % list(el.values())[0], {})

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def close(self):
        try:
            http("DELETE", self.session, timeout=30)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.close()


ROW = "return document.querySelector('#timeline li.outcome-' + arguments[0] + '[data-request-id=\"' + arguments[1] + '\"]') !== null"


def test_page_shows_a_throttle_and_a_timeout_live(server, browser):
    browser.cmd("POST", "/url", {"url": server.url + "/lemu/ui"})
    browser.wait("return document.getElementById('conn').dataset.state === 'live'", what="the live stream")
    browser.wait("return document.querySelectorAll('#functions tbody tr').length === 2", what="the functions")
    assert browser.js("return document.querySelector('#functions tr[data-function=slow]').innerText") \
        .split("\t") == ["slow", "provided.al2023", "Active", "1 s", "128 MB", "1", "0"]

    timed_out, throttled = throttle_and_timeout(server)  # while the page is open: it must update by itself
    browser.wait(ROW, "timeout", timed_out, what="the timeout row")
    browser.wait(ROW, "throttle", throttled, what="the throttle row")
    colours = browser.js("""
        const c = (o) => getComputedStyle(document.querySelector('#timeline li.outcome-' + o + ' .badge')).backgroundColor;
        return [c('timeout'), c('throttle')];""")
    assert colours[0] != colours[1]
    assert "Task timed out" not in browser.js("return document.body.innerText")  # outcomes, not bodies

    # warm/cold environments: the timeout killed slow's environment; echo's first invoke is a cold start
    no_retry(server).invoke(FunctionName="echo", Payload=b"{}")
    browser.wait("return [...document.querySelectorAll('#timeline li[data-function=echo]')].some("
                 "li => li.innerText.includes('cold start'))", what="echo's cold start")
    browser.wait("return document.querySelector('#environments tr[data-function=echo]') !== null",
                 what="echo's warm environment")

    # the buttons: add a throttle rule for echo, see it fire, clear all rules
    browser.js("document.getElementById('fault-function').value = 'echo';"
               "document.getElementById('fault-kind').value = 'throttle';"
               "document.getElementById('fault-when').value = 'Always';")
    browser.click("#fault-add")
    browser.wait("return document.querySelectorAll('#faults tbody tr').length === 1", what="the new rule")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        no_retry(server).invoke(FunctionName="echo", Payload=b"{}")
    rid = e.value.response["ResponseMetadata"]["RequestId"]
    browser.wait(ROW, "throttle", rid, what="the injected throttle")
    browser.wait("return document.querySelector('#timeline li.outcome-fault[data-type=fault]') !== null",
                 what="the rule's firing")
    browser.screenshot(os.path.join(ARTIFACTS, "ui.png"))
    browser.click("#fault-clear")
    browser.wait("return document.querySelectorAll('#faults tbody tr').length === 0", what="no rule left")
    assert json.loads(http("GET", server.url + "/lemu/v1/faults")[2]) == {"Faults": []}
