"""A managed runtime whose interpreter is not on lemu's PATH (issue 4, item 6): lemu starts anyway,
warns on stderr naming the missing program, and every invoke of such a function gets a clear
platform error -- not a crash -- while the other functions keep working.

lemu is started by the usual fixture with PATH pointing at a folder of symlinks to only the
programs the other functions need (lemu itself needs nothing on PATH). The error is the one the
Lambda platform reports when it cannot start a runtime's entry point (reference §2.3: platform
errors are `{"errorType", "errorMessage"}` with no stack, message `RequestId: <id> Error: <err>`),
with Go's exec.LookPath text for a program missing from PATH:
`exec: "node": executable file not found in $PATH`.
"""
import json
import os
import shutil
import sys

import pytest

from conftest import sample
from lemu_testlib import assert_serving, echo_fn, fn, request_id

WARNING = ("function %s: runtime %s needs '%s', which is not on PATH; its invokes will fail "
           "with Runtime.InvalidEntrypoint")


def sample_fn(folder):
    with open(os.path.join(sample(folder), "function.json")) as f:
        spec = json.load(f)
    return fn(spec["FunctionName"], sample(folder), handler=spec["Handler"], runtime=spec["Runtime"],
              timeout=spec["Timeout"], memory=spec["MemorySize"])


def real_program(name):
    """The real executable behind `name` (a pyenv shim, say, is a script that needs a full PATH)."""
    if name == "python3":
        return os.path.realpath(sys.executable)
    found = shutil.which(name)
    if not found:
        pytest.skip("no %s on this machine" % name)
    return os.path.realpath(found)


def path_with_only(tmp_path, *programs):
    """A PATH of one folder holding symlinks to just these programs."""
    d = tmp_path / "path-bin"
    d.mkdir()
    for p in programs:
        os.symlink(real_program(p), str(d / p))
    return str(d)


def expected_body(rid, program):
    return json.dumps({"errorType": "Runtime.InvalidEntrypoint",
                       "errorMessage": 'RequestId: %s Error: exec: "%s": executable file not found in $PATH'
                       % (rid, program)}, separators=(",", ":")).encode()


def assert_missing_error(client, name, program):
    resp = client.invoke(FunctionName=name, Payload=b'{"hello":"world"}')
    rid = request_id(resp)
    body = resp["Payload"].read()
    assert resp["StatusCode"] == 200, body
    assert resp.get("FunctionError") == "Unhandled", body
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert body == expected_body(rid, program)
    return rid


def warning_lines(server):
    return [l for l in server.stderr_text().splitlines() if "which is not on PATH" in l]


CASES = {
    # missing program, the function that needs it, the interpreter that stays available and the
    # sample that proves its runtime still works
    "node": ("echo-node", "nodejs20.x", "python3", "echo-python"),
    "python3": ("echo-python", "python3.12", "node", "echo-node"),
}


@pytest.mark.parametrize("missing", sorted(CASES))
def test_missing_interpreter_warns_and_fails_invokes_cleanly(make_lemu, tmp_path, monkeypatch, missing):
    name, runtime, present, other = CASES[missing]
    monkeypatch.setenv("PATH", path_with_only(tmp_path, present))
    config = {"Functions": [sample_fn(name), sample_fn(other), echo_fn()]}
    server = make_lemu(config)

    # One startup warning, naming the function, its runtime and the missing program; none for the
    # runtime whose interpreter is there.
    expected = WARNING % (name, runtime, missing)
    lines = warning_lines(server)
    assert len(lines) == 1, server.stderr_text()
    assert lines[0].endswith(expected), (lines[0], expected)
    assert "warning" in lines[0], lines[0]

    client = server.client()
    # Every invoke gets the same clear error (nothing is started, nothing is retried, no crash).
    rids = {assert_missing_error(client, name, missing) for _ in range(3)}
    assert len(rids) == 3
    # Asynchronous invokes are accepted as usual (the failure happens when the event is run).
    assert client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    assert client.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204

    # lemu keeps serving: the function whose interpreter is present and a provided one work.
    payload = b'{"still":"here","n":1}'
    resp = client.invoke(FunctionName=other, Payload=payload)
    body = resp["Payload"].read()
    assert "FunctionError" not in resp, body
    assert json.loads(body) == json.loads(payload)  # (Python's runtime re-serialises with spaces)
    assert_serving(server)
    assert_missing_error(client, name, missing)
    assert server.proc.poll() is None


def test_no_interpreter_at_all(make_lemu, tmp_path, monkeypatch):
    """An empty PATH: both managed runtimes warn, both fail cleanly, provided functions run."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    server = make_lemu({"Functions": [sample_fn("echo-node"), sample_fn("echo-python"), echo_fn()]})
    lines = warning_lines(server)
    assert len(lines) == 2, server.stderr_text()
    assert any(l.endswith(WARNING % ("echo-node", "nodejs20.x", "node")) for l in lines), lines
    assert any(l.endswith(WARNING % ("echo-python", "python3.12", "python3")) for l in lines), lines
    client = server.client()
    assert_missing_error(client, "echo-node", "node")
    assert_missing_error(client, "echo-python", "python3")
    assert_serving(server)
