"""Hardened defaults of the control API and the listen addresses (issue 11, docs/security.md).

- With a control token (--control-token, LEMU_CONTROL_TOKEN, Lemu.ControlToken) every /lemu/v1/
  route wants it as "Authorization: Bearer TOKEN" or "X-Lemu-Control-Token: TOKEN" (401 in the
  control API's error format otherwise); the Invoke and management APIs never ask for it, and
  the token never appears in lemu's output.
- Without a token, /lemu/v1/ refuses callers that are not on loopback (403). That test runs lemu
  in a network namespace of its own where 198.18.0.1 (the benchmarking range) is a local address
  (on a dummy interface, or on the namespace's own lo when the kernel has no dummy driver): lemu
  binds 0.0.0.0 there and the client calls it through 198.18.0.1 from inside the same namespace,
  so no packet leaves it and the host's interfaces are never touched. Skipped (with the reason)
  when namespaces cannot be made (not root, no unshare/nsenter/ip).
- Binding anything but 127.0.0.0/8 prints one warning line on stderr (API port and API Gateway
  front).
- `lemu fault` sends $LEMU_CONTROL_TOKEN; the FIS import refuses a Seed out of range.
"""
import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from conftest import LEMU_BIN, SAMPLES, sample
from lemu_testlib import fn

TOKEN = "t0ken-Of-issue-11/+="
FIS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fis")
NS_ADDR = "198.18.0.1"  # RFC 2544 benchmarking range, a local address inside the namespace only
# Run inside the new namespace: lo up, NS_ADDR on a dummy interface (else on lo), then exec "$@".
NS_SETUP = ("ip link set lo up && "
            "{ { ip link add lemu0 type dummy 2>/dev/null && ip addr add %s/32 dev lemu0 && ip link set lemu0 up; } "
            "|| ip addr add %s/32 dev lo; } && exec \"$@\"" % (NS_ADDR, NS_ADDR))

# Every route of the control API: (method, path, body).
CONTROL_ROUTES = [
    ("GET", "/lemu/v1/metrics", None),
    ("GET", "/lemu/v1/state", None),
    ("GET", "/lemu/v1/events?since=0", None),
    ("GET", "/lemu/v1/queue", None),
    ("GET", "/lemu/v1/destinations", None),
    ("GET", "/lemu/v1/faults", None),
    ("POST", "/lemu/v1/faults", {"Function": "echo", "Fault": "throttle", "When": {"Always": True}}),
    ("DELETE", "/lemu/v1/faults", None),
    ("POST", "/lemu/v1/faults/fis", {"actions": {}}),
    ("DELETE", "/lemu/v1/faults/no-such-rule", None),
]


def http(server, method, path, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def assert_refused(status, headers, body, code, err_type, says):
    assert status == code, body
    assert headers.get("x-amzn-ErrorType") == err_type
    assert headers.get("Content-Type") == "application/json"
    doc = json.loads(body)
    assert doc["Type"] == "User"
    assert says in doc["message"], doc


def echo_config():
    return {"Functions": [fn("echo", sample("echo"))]}


@pytest.fixture
def guarded(make_lemu):
    return make_lemu(echo_config(), args=["--control-token", TOKEN, "--debug"])


# ---------------------------------------------------------------------------------------
# the control token

@pytest.mark.parametrize("method,path,body", CONTROL_ROUTES, ids=[m + " " + p for m, p, _ in CONTROL_ROUTES])
def test_every_control_route_wants_the_token(guarded, method, path, body):
    st, hs, out = http(guarded, method, path, body)
    assert_refused(st, hs, out, 401, "UnauthorizedException", "Authorization: Bearer TOKEN")
    st, hs, out = http(guarded, method, path, body, {"Authorization": "Bearer not-" + TOKEN})
    assert_refused(st, hs, out, 401, "UnauthorizedException", "does not match")
    st, hs, out = http(guarded, method, path, body, {"X-Lemu-Control-Token": TOKEN[:-1]})
    assert_refused(st, hs, out, 401, "UnauthorizedException", "does not match")
    st, _, out = http(guarded, method, path, body, {"Authorization": "Bearer " + TOKEN})
    assert st not in (401, 403), out


def test_token_forms_and_what_stays_open(guarded):
    rule = {"Function": "echo", "Fault": "throttle", "When": {"Nth": [1]}}
    # Bearer (scheme in any case), and the X- header
    st, _, out = http(guarded, "POST", "/lemu/v1/faults", rule, {"Authorization": "bearer " + TOKEN})
    assert st == 201, out
    rule_id = json.loads(out)["Id"]
    st, _, out = http(guarded, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": TOKEN})
    assert st == 200 and [r["Id"] for r in json.loads(out)["Faults"]] == [rule_id]
    # A Bearer token of the wrong kind next to the right X- header: the Authorization header wins
    st, _, _ = http(guarded, "GET", "/lemu/v1/faults", None,
                    {"Authorization": "Bearer wrong", "X-Lemu-Control-Token": TOKEN})
    assert st == 401
    # an AWS signature in Authorization (what SDKs send) does not hide the X- header
    st, _, _ = http(guarded, "GET", "/lemu/v1/faults", None,
                    {"Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/lambda/aws4_request",
                     "X-Lemu-Control-Token": TOKEN})
    assert st == 200
    # the Invoke and management APIs never ask for a token: the rule (set with the token) fires
    c = guarded.client()
    with pytest.raises(c.exceptions.TooManyRequestsException):
        c.invoke(FunctionName="echo", Payload=b"{}")
    r = c.invoke(FunctionName="echo", Payload=b'{"a": 1}')
    assert r["StatusCode"] == 200 and json.loads(r["Payload"].read()) == {"a": 1}
    assert [f["FunctionName"] for f in c.list_functions()["Functions"]] == ["echo"]
    # the live page's static files stay open (its data comes from the guarded /lemu/v1/)
    st, _, out = http(guarded, "GET", "/lemu/ui")
    assert st == 200 and b"<html" in out.lower()


def test_token_never_reaches_the_output(guarded):
    for headers in ({}, {"Authorization": "Bearer " + TOKEN + "x"}, {"X-Lemu-Control-Token": TOKEN}):
        http(guarded, "GET", "/lemu/v1/faults", None, headers)
        http(guarded, "POST", "/lemu/v1/faults", {"Function": "echo", "Fault": "nope"}, headers)
    guarded.client().invoke(FunctionName="echo", Payload=b"{}")
    guarded.wait_for_line(lambda l: "REPORT RequestId" in l)
    guarded.stop()
    out = "".join(guarded.lines()) + guarded.stderr_text()
    assert "control API: GET /lemu/v1/faults refused" in out  # --debug: the refusals are logged...
    assert TOKEN not in out and TOKEN[:8] not in out          # ...but never the token


def test_token_from_environment_and_config_and_precedence(make_lemu, monkeypatch, tmp_path):
    monkeypatch.setenv("LEMU_CONTROL_TOKEN", "from-env")
    cfg = dict(echo_config(), Lemu={"ControlToken": "from-config"})
    server = make_lemu(cfg)  # the environment beats the config file
    assert http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": "from-env"})[0] == 200
    assert http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": "from-config"})[0] == 401
    server = make_lemu(cfg, args=["--control-token", "from-flag"])  # the flag beats both
    assert http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": "from-flag"})[0] == 200
    assert http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": "from-env"})[0] == 401
    monkeypatch.delenv("LEMU_CONTROL_TOKEN")
    server = make_lemu(cfg)
    assert http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": "from-config"})[0] == 200
    assert http(server, "GET", "/lemu/v1/faults")[0] == 401


# (an empty LEMU_CONTROL_TOKEN means no token: test_empty_token_variable_is_no_token)
@pytest.mark.parametrize("how,bad", [(how, bad) for how in ("flag", "env", "config")
                                     for bad in ("", "has space", "x" * 1025, "tab\there")
                                     if (how, bad) != ("env", "")])
def test_unusable_token_is_refused_at_start_without_echoing_it(tmp_path, how, bad):
    cmd = [LEMU_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
    env = dict(os.environ)
    env.pop("LEMU_CONTROL_TOKEN", None)
    if how == "flag":
        cmd += ["--control-token", bad]
    elif how == "env":
        env["LEMU_CONTROL_TOKEN"] = bad
    else:
        (tmp_path / "lemu.json").write_text(json.dumps(dict(echo_config(), Lemu={"ControlToken": bad})))
        cmd += ["-c", str(tmp_path / "lemu.json")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "visible ASCII characters" in lines[0], r.stderr
    assert {"flag": "--control-token", "env": "LEMU_CONTROL_TOKEN", "config": "Lemu.ControlToken"}[how] in lines[0]
    if bad:
        assert bad not in r.stderr


def test_empty_token_variable_is_no_token(make_lemu, monkeypatch):
    monkeypatch.setenv("LEMU_CONTROL_TOKEN", "")
    server = make_lemu(echo_config())
    st, _, out = http(server, "GET", "/lemu/v1/faults")  # a loopback caller without a token
    assert st == 200 and json.loads(out) == {"Faults": []}


def test_live_page_sends_the_token(make_lemu, tmp_path):
    from test_ui import Browser  # headless Chromium over WebDriver (needs chromium, chromium-driver)
    server = make_lemu(echo_config(), args=["--control-token", TOKEN])
    browser = Browser(tmp_path)
    try:
        browser.cmd("POST", "/url", {"url": server.url + "/lemu/ui#token=" + urllib.request.quote(TOKEN, safe="")})
        browser.wait("return document.getElementById('conn').dataset.state === 'live'", what="the event stream")
        browser.wait("return document.querySelectorAll('#functions tbody tr').length === 1", what="the functions")
        assert browser.js("return location.href") == server.url + "/lemu/ui"  # the token left the address bar
        rid = server.client().invoke(FunctionName="echo", Payload=b"{}")["ResponseMetadata"]["RequestId"]
        browser.wait("return document.querySelector('#timeline li[data-request-id=\"' + arguments[0] + '\"]') !== null",
                     rid, what="the invocation on the timeline")
        browser.js("document.getElementById('fault-function').value = 'echo';"
                   "document.getElementById('fault-kind').value = 'throttle';"
                   "document.getElementById('fault-when').value = 'Always';")
        browser.click("#fault-add")
        browser.wait("return document.querySelectorAll('#faults tbody tr').length === 1", what="the new rule")
        st, _, out = http(server, "GET", "/lemu/v1/faults", None, {"X-Lemu-Control-Token": TOKEN})
        assert st == 200 and [r["Fault"] for r in json.loads(out)["Faults"]] == ["throttle"]
    finally:
        browser.close()


def test_loopback_listen_prints_no_warning(make_lemu):
    server = make_lemu(echo_config())
    http(server, "GET", "/lemu/v1/faults")
    server.stop()
    assert "not a loopback address" not in server.stderr_text()


# ---------------------------------------------------------------------------------------
# `lemu fault` with LEMU_CONTROL_TOKEN

def lemu_fault(server, *args, token=None):
    env = dict(os.environ, LEMU_URL=server.url)
    env.pop("LEMU_CONTROL_TOKEN", None)
    if token is not None:
        env["LEMU_CONTROL_TOKEN"] = token
    return subprocess.run([LEMU_BIN, "fault", *args], capture_output=True, text=True, timeout=30, env=env)


def test_fault_cli_sends_the_token(guarded):
    r = lemu_fault(guarded, "list")
    assert r.returncode == 1
    assert json.loads(r.stdout)["message"].startswith("This lemu requires a control token")
    r = lemu_fault(guarded, "list", token="wrong")
    assert r.returncode == 1 and "does not match" in r.stdout
    r = lemu_fault(guarded, "add", json.dumps({"Function": "echo", "Fault": "throttle", "When": {"Nth": [1]}}),
                   token=TOKEN)
    assert r.returncode == 0, (r.stdout, r.stderr)
    rule_id = json.loads(r.stdout)["Id"]
    r = lemu_fault(guarded, "import", os.path.join(FIS_DIR, "invocation-error-50.json"), "--seed", "3",
                   token=TOKEN)
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = lemu_fault(guarded, "list", token=TOKEN)
    assert r.returncode == 0 and rule_id in [f["Id"] for f in json.loads(r.stdout)["Faults"]]
    assert lemu_fault(guarded, "clear", rule_id, token=TOKEN).returncode == 0
    assert lemu_fault(guarded, "clear", token=TOKEN).returncode == 0
    assert json.loads(lemu_fault(guarded, "list", token=TOKEN).stdout)["Faults"] == []
    r = lemu_fault(guarded, "list", token="bad\r\nX-Injected: 1")
    assert r.returncode == 2 and "line break" in r.stderr


# ---------------------------------------------------------------------------------------
# FIS import: the Seed is range-checked before it is converted

def fis_template():
    with open(os.path.join(FIS_DIR, "invocation-error-50.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("seed", [-1, -0.5, 1.5, 1e300, -1e300, 2 ** 64, 9007199254740994, "7", None, [1], True])
def test_fis_seed_out_of_range_in_body_is_400(make_lemu, seed):
    server = make_lemu(echo_config())
    st, hs, out = http(server, "POST", "/lemu/v1/faults/fis", {"Template": fis_template(), "Seed": seed})
    assert_refused(st, hs, out, 400, "ValidationException", "Seed: expected an integer from 0 to 9007199254740992")
    assert json.loads(http(server, "GET", "/lemu/v1/faults")[2])["Faults"] == []


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5", "+1", " 1", "", "18446744073709551616",
                                  "9007199254740993", "1e3"])
def test_fis_seed_out_of_range_in_query_is_400(make_lemu, seed):
    server = make_lemu(echo_config())
    st, hs, out = http(server, "POST", "/lemu/v1/faults/fis?Seed=" + urllib.request.quote(seed, safe=""),
                       fis_template())
    assert_refused(st, hs, out, 400, "ValidationException", "Seed: expected an integer")


@pytest.mark.parametrize("where", ["body", "query"])
@pytest.mark.parametrize("seed", [0, 7, 9007199254740992])
def test_fis_seed_in_range_is_accepted(make_lemu, where, seed):
    server = make_lemu(echo_config())
    if where == "body":
        st, _, out = http(server, "POST", "/lemu/v1/faults/fis", {"Template": fis_template(), "Seed": seed})
    else:
        st, _, out = http(server, "POST", "/lemu/v1/faults/fis?Seed=%d" % seed, fis_template())
    assert st == 201, out
    assert len(json.loads(out)["Ids"]) == 1


# ---------------------------------------------------------------------------------------
# a caller that is not on loopback, in a network namespace of the test's own

NS_CLIENT = textwrap.dedent(r'''
    import json, sys, urllib.error, urllib.request
    out = []
    for method, url, body, headers in json.load(sys.stdin):
        req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                out.append([r.status, dict(r.headers), r.read().decode()])
        except urllib.error.HTTPError as e:
            out.append([e.code, dict(e.headers), e.read().decode()])
    json.dump(out, sys.stdout)
''')


def namespaces_usable():
    if os.geteuid() != 0:
        return "needs root to create a network namespace (unshare --net)"
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            return "needs %s (util-linux / iproute2)" % tool
    probe = subprocess.run(["unshare", "--net", "sh", "-c", NS_SETUP, "sh", "true"],
                           capture_output=True, text=True, timeout=20)
    if probe.returncode != 0:
        return "cannot create a network namespace holding %s: %s" % (NS_ADDR, probe.stderr.strip())
    return None


class NamespacedLemu:
    """`lemu serve --listen 0.0.0.0:0` as the only process of a new network namespace where NS_ADDR
    is local (NS_SETUP). The namespace dies with lemu: nothing persists (no `ip netns` name, no
    interface outside it)."""

    def __init__(self, tmp_path, args=(), env=None):
        cmd = ["unshare", "--net", "sh", "-c", NS_SETUP, "sh", LEMU_BIN, "serve", "--listen", "0.0.0.0:0",
               "--state-dir", str(tmp_path / ("state-%d" % id(self))), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, LEMU_SAMPLES_DIR=SAMPLES, **(env or {})),
                                     start_new_session=True)
        first = self.proc.stdout.readline()
        if not first.startswith("http://0.0.0.0:"):
            self.proc.kill()
            raise AssertionError("lemu did not start in the namespace: %r %s" % (first, self.proc.stderr.read()))
        self.port = int(first.strip().rsplit(":", 1)[1])

    def calls(self, requests):
        """Run the requests [(method, "http://ADDR:PORT/path", body or None, headers)] from inside
        lemu's namespace; [(status, headers, body text)]."""
        r = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % self.proc.pid, "/usr/bin/python3", "-c", NS_CLIENT],
                           input=json.dumps(requests), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def url(self, addr, path):
        return "http://%s:%d%s" % (addr, self.port, path)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("lemu did not stop within 10 s of SIGTERM")
        assert self.proc.returncode == 0, err
        assert "Sanitizer" not in err and "runtime error:" not in err, err
        return err


@pytest.fixture
def namespaced(tmp_path):
    reason = namespaces_usable()
    if reason:
        pytest.skip(reason)
    started = []

    def start(args=(), env=None):
        started.append(NamespacedLemu(tmp_path, args, env))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


INVOKE = "/2015-03-31/functions/echo/invocations"


def test_non_loopback_caller_without_token_is_refused(namespaced):
    lemu = namespaced(["--api-listen", "0.0.0.0:0"])
    got = lemu.calls([
        ["GET", lemu.url(NS_ADDR, "/lemu/v1/faults"), None, {}],
        ["POST", lemu.url(NS_ADDR, "/lemu/v1/faults"), json.dumps({"Function": "*", "Fault": "throttle"}), {}],
        ["GET", lemu.url(NS_ADDR, "/lemu/v1/metrics"), None, {"Authorization": "Bearer anything"}],
        ["GET", lemu.url("127.0.0.1", "/lemu/v1/faults"), None, {}],
        ["POST", lemu.url(NS_ADDR, INVOKE), '{"via": "dummy"}', {}],
    ])
    for status, headers, body in got[:3]:
        assert_refused(status, headers, body, 403, "AccessDeniedException", "--control-token TOKEN")
    assert got[3][0] == 200 and json.loads(got[3][2]) == {"Faults": []}  # loopback: open
    assert got[4][0] == 200 and json.loads(got[4][2]) == {"via": "dummy"}  # Invoke: unchanged
    err = lemu.stop()
    warnings = [l for l in err.splitlines() if "not a loopback address" in l]
    assert len(warnings) == 2, err  # the API port and the API Gateway front, one line each
    api = [l for l in warnings if "the APIs listen on 0.0.0.0:%d" % lemu.port in l]
    assert len(api) == 1, warnings
    assert api[0].startswith("lemu: warning: ")
    assert "anyone who can reach this port can run code as this user" in api[0]
    assert "change fault rules" in api[0] and "--control-token" in api[0]
    assert any("API Gateway front listens on 0.0.0.0:" in l for l in warnings), warnings


def test_non_loopback_caller_with_token(namespaced):
    lemu = namespaced(["--control-token", TOKEN])
    got = lemu.calls([
        ["GET", lemu.url(NS_ADDR, "/lemu/v1/faults"), None, {}],
        ["GET", lemu.url(NS_ADDR, "/lemu/v1/faults"), None, {"Authorization": "Bearer " + TOKEN}],
        ["GET", lemu.url(NS_ADDR, "/lemu/v1/faults"), None, {"X-Lemu-Control-Token": "nope"}],
        ["GET", lemu.url("127.0.0.1", "/lemu/v1/faults"), None, {}],  # the token binds loopback too
    ])
    assert_refused(*got[0], 401, "UnauthorizedException", "Authorization: Bearer TOKEN")
    assert got[1][0] == 200 and json.loads(got[1][2]) == {"Faults": []}
    assert_refused(*got[2], 401, "UnauthorizedException", "does not match")
    assert_refused(*got[3], 401, "UnauthorizedException", "Authorization: Bearer TOKEN")
    err = lemu.stop()
    assert "the control token guards /lemu/v1/ only" in err
    assert TOKEN not in err
