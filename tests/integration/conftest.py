"""Fixtures that start a real `lemu serve` on an ephemeral 127.0.0.1 port.

Every integration test drives that process with unmodified clients (boto3, the AWS CLI). The
binary and the staged sample functions come from the build the test command just made:
LEMU_BIN and LEMU_SAMPLES_DIR (tools/test sets both; defaults are the plain ./build tree).
On stop, a lemu that crashed, hung or printed a sanitizer report fails the test.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import boto3
import botocore.config
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LEMU_BIN = os.environ.get("LEMU_BIN") or os.path.join(REPO, "build", "lemu")
SAMPLES = os.environ.get("LEMU_SAMPLES_DIR") or os.path.join(REPO, "build", "sample-functions")
START_TIMEOUT_S = 10
# A hang detector: a native lemu stops in well under a second. tests/soak/memcheck raises it, as
# valgrind makes every step of the shutdown (and the syscalls between) 20-50 times slower.
STOP_TIMEOUT_S = float(os.environ.get("LEMU_TEST_STOP_TIMEOUT_S", "5"))

# lemu keeps its TMPDIR templates (formatted ext4 images) in $XDG_CACHE_HOME/lemu: the servers of
# one test session share a temporary cache, so tests never touch the real ~/.cache (and each size
# is formatted once per session). A test that needs a cache of its own sets XDG_CACHE_HOME itself.
_CACHE_HOME = tempfile.mkdtemp(prefix="lemu-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME
atexit.register(shutil.rmtree, _CACHE_HOME, True)


class LemuServer:
    """One `lemu serve` child process. `config` is a dict written to lemu.json, or None for the
    embedded default (the sample functions)."""

    def __init__(self, tmp_path, config=None, args=()):
        self.tmp_path = tmp_path
        self.config = config
        self.args = list(args)
        self.proc = None
        self.url = None
        self._out = []
        self._err = []
        self._lock = threading.Lock()

    def start(self):
        cmd = [LEMU_BIN, "serve", "--listen", "127.0.0.1:0"]
        if self.config is not None:
            path = os.path.join(str(self.tmp_path), "lemu.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["-c", path]
        if "--state-dir" not in self.args:
            # Each server its own state dir: tests never share (or lock) one, nor touch $HOME.
            cmd += ["--state-dir", os.path.join(str(self.tmp_path), "state-%d" % id(self))]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        first = self._read_first_line()
        assert first.startswith("http://127.0.0.1:"), "first stdout line is not the URL: %r (stderr: %s)" % (
            first, self.stderr_text())
        self.url = first.strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True).start()
        return self

    def _read_first_line(self):
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True).start()
        result = []

        def reader():
            result.append(self.proc.stdout.readline().decode("utf-8", "replace"))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(START_TIMEOUT_S)
        if not result:
            self.proc.kill()
            raise AssertionError("lemu printed no URL within %ss; stderr: %s" % (START_TIMEOUT_S, self.stderr_text()))
        return result[0]

    def _pump(self, stream, sink):
        for line in iter(stream.readline, b""):
            with self._lock:
                sink.append(line.decode("utf-8", "replace"))

    def lines(self):
        """lemu's stdout lines so far (after the URL line)."""
        with self._lock:
            return list(self._out)

    def stderr_text(self):
        with self._lock:
            return "".join(self._err)

    def wait_for_line(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if predicate(line):
                    return line
            time.sleep(0.02)
        raise AssertionError("no matching log line within %ss" % timeout)

    def client(self, **config_kw):
        """A boto3 Lambda client pointed at this server. Retries are off unless asked for, so a
        test sees exactly what lemu answered."""
        # total_max_attempts 1: one request, no retry (max_attempts counts retries in botocore).
        kw = {"retries": {"total_max_attempts": 1, "mode": "standard"}, "read_timeout": 60}
        kw.update(config_kw)
        return boto3.client("lambda", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            config=botocore.config.Config(**kw))

    def cli_env(self):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"})
        return env

    def stop(self):
        """SIGTERM, then assert a clean exit and no sanitizer report."""
        if self.proc is None or self.proc.poll() is not None and self.proc.returncode is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                import lemu_testlib  # here: it imports this module
                where = lemu_testlib.process_snapshot(self.proc.pid)  # before the kill: where it hangs
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError("lemu did not stop within %ss of SIGTERM\n%s\nstderr (tail):\n%s" % (
                    STOP_TIMEOUT_S, where, self.stderr_text()[-4000:]))
        time.sleep(0.05)  # let the pump threads drain
        err = self.stderr_text()
        assert "Sanitizer" not in err and "runtime error:" not in err, "sanitizer report:\n" + err
        assert self.proc.returncode == 0, "lemu exited with %s; stderr:\n%s" % (self.proc.returncode, err)


@pytest.fixture
def make_lemu(tmp_path):
    """Factory: make_lemu(config=None, args=()) starts a server; all are stopped (and checked)
    when the test ends."""
    servers = []

    def make(config=None, args=()):
        s = LemuServer(tmp_path, config, args).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def lemu_default(make_lemu):
    """A server with the embedded default: every sample function."""
    return make_lemu()


def sample(name):
    """Absolute path of a staged sample function's code directory."""
    return os.path.join(SAMPLES, name)
