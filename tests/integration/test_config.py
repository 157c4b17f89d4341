"""lemu.json validation: a bad config stops lemu before it listens, with exit status 2 and one
line on stderr naming the file, the key path and what was expected (design.md §1)."""
import json
import os
import socket
import subprocess

import pytest

from conftest import LEMU_BIN, sample
from lemu_testlib import assert_serving, echo_fn, fn


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def good_fn(**over):
    f = fn("echo", sample("echo"))
    f.update(over)
    return f


CASES = [
    # id, file text, what the one stderr line must contain (besides "lemu: <path>: ")
    ("invalid-json", '{"Functions": [ {"FunctionName": "echo",', []),
    ("unknown-key", {"Functions": [dict(good_fn(), Timout=3)]}, ["Functions[0].Timout"]),
    ("wrong-type", {"Functions": [good_fn(Timeout="x")]}, ["Functions[0].Timeout", "expected", '"x"']),
    ("timeout-range", {"Functions": [good_fn(Timeout=901)]}, ["Functions[0].Timeout", "expected", "901"]),
    ("memory-range", {"Functions": [good_fn(MemorySize=64)]}, ["Functions[0].MemorySize", "expected", "64"]),
    ("missing-codeuri-dir", {"Functions": [good_fn(CodeUri="no-such-dir")]}, ["Functions[0].CodeUri", "no-such-dir"]),
    ("second-function", {"Functions": [good_fn(), good_fn(FunctionName="b", Environment={"Variables": {"K": 1}})]},
     ["Functions[1].Environment.Variables.K", "expected"]),
    ("unknown-top-level", {"Functions": [good_fn()], "Functoins": []}, ["Functoins"]),
    ("account-type", {"Account": {"Region": 5}, "Functions": [good_fn()]}, ["Account.Region", "expected"]),
]


@pytest.mark.parametrize("case_id,content,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_with_one_message(tmp_path, case_id, content, needles):
    path = str(tmp_path / "lemu.json")
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    port = free_port()
    r = subprocess.run([LEMU_BIN, "serve", "-c", path, "--listen", "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", "lemu printed on stdout (it must not listen): %r" % r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, "expected exactly one stderr line, got %r" % r.stderr
    line = lines[0]
    assert line.startswith("lemu: %s: " % path), line
    for needle in needles:
        assert needle in line, "%r missing from %r" % (needle, line)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_wrong_type_message_exact(tmp_path):
    path = str(tmp_path / "lemu.json")
    with open(path, "w") as f:
        json.dump({"Functions": [good_fn(Timeout="x")]}, f)
    r = subprocess.run([LEMU_BIN, "serve", "-c", path, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert r.stderr == 'lemu: %s: Functions[0].Timeout: expected an integer from 1 to 900, got "x"\n' % path


def test_missing_config_file(tmp_path):
    path = str(tmp_path / "absent.json")
    r = subprocess.run([LEMU_BIN, "serve", "-c", path, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and path in r.stderr, r.stderr


def test_codeuri_is_relative_to_the_config_file(make_lemu, tmp_path):
    # lemu.json lives in tmp_path; a relative CodeUri resolves from there, not from the cwd.
    os.symlink(sample("echo"), str(tmp_path / "echo-code"))
    server = make_lemu({"Functions": [fn("echo", "echo-code")]})
    assert_serving(server)


def test_config_values_are_used(make_lemu, tmp_path):
    server = make_lemu({"Account": {"Region": "us-east-1", "AccountId": "123456789012", "ConcurrentExecutions": 10},
                        "Functions": [echo_fn(), fn("echo2", sample("echo"), Description="second echo")]})
    assert_serving(server)
    assert_serving(server, "echo2")
    c = server.client()
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.invoke(FunctionName="sleep")  # not in this config: the default set is not added
