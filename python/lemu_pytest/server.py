"""A `lemu serve` child process for tests: start on an ephemeral port, talk to it, stop it.

This module needs nothing but the standard library (boto3 is imported only when a Lambda client
is asked for), so it also works outside pytest:

    with LemuServer(config={"Functions": [...]}) as lemu:
        lemu.lambda_client().invoke(FunctionName="echo", Payload=b"{}")
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
#: What lemu prints when a sanitizer build finds a bug; such a report fails the run like a crash.
SANITIZER_MARKERS = ("Sanitizer", "runtime error:")
#: Any credentials and region are accepted by lemu; boto3 only needs some.
DUMMY_CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "lemu"}
DEFAULT_REGION = "us-east-1"
#: The environment variable and header of lemu's control token (lemu serve --control-token).
CONTROL_TOKEN_ENV = "LEMU_CONTROL_TOKEN"
CONTROL_TOKEN_HEADER = "X-Lemu-Control-Token"


class LemuError(AssertionError):
    """lemu could not start, crashed, or exited badly. An AssertionError, so pytest reports it as
    a failure with its message."""


def find_lemu_bin(explicit=None):
    """The lemu binary: `explicit`, else $LEMU_BIN, else `lemu` on PATH, else the build/ tree of
    the repository this package sits in (python/ beside build/)."""
    for cand in (explicit, os.environ.get("LEMU_BIN")):
        if cand:
            return os.path.abspath(cand)
    on_path = shutil.which("lemu")
    if on_path:
        return on_path
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    built = os.path.join(repo, "build", "lemu")
    if os.access(built, os.X_OK):
        return built
    raise LemuError("no lemu binary: pass --lemu-bin PATH, set LEMU_BIN, put lemu on PATH, or "
                    "build the repository (cmake -S . -B build && cmake --build build)")


class LemuServer:
    """One `lemu serve --listen 127.0.0.1:0` process.

    config: a dict (written to lemu.json), a path to a lemu.json, or None for lemu's default
    (every folder holding a function.json under functions_dir, or lemu's sample functions).
    functions_dir: a directory of function folders (each with a function.json), served when no
    config is given. args: extra `lemu serve` arguments (e.g. ["--time-scale", "0.001"]).
    workdir: where lemu.json and the state directory go (a temporary directory by default).
    control_token: the control token lemu requires on /lemu/v1/ (passed to lemu as
    LEMU_CONTROL_TOKEN); by default the one the server is started with, if any: --control-token
    in args, else LEMU_CONTROL_TOKEN in env or os.environ, else Lemu.ControlToken of a config
    dict. fault(), faults(), metrics(), request() and the other control calls send it.
    """

    def __init__(self, config=None, functions_dir=None, args=(), lemu_bin=None, workdir=None, env=None,
                 control_token=None):
        self.config = config
        self.functions_dir = functions_dir
        self.args = list(args)
        self.lemu_bin = find_lemu_bin(lemu_bin)
        self._own_workdir = workdir is None
        self.workdir = str(workdir) if workdir is not None else tempfile.mkdtemp(prefix="lemu-")
        self.extra_env = dict(env or {})
        if control_token is not None:
            self.extra_env[CONTROL_TOKEN_ENV] = control_token
        self.control_token = control_token or self._configured_token()
        self.proc = None
        self.url = None
        self.port = None
        self.returncode = None
        self._stopped = False
        self._terminating = False
        self._out = []
        self._err = []
        self._lock = threading.Lock()
        self._threads = []

    def _configured_token(self):
        """The token lemu will be started with (see the class docstring), or None."""
        args = self.args
        for i, a in enumerate(args[:-1]):
            if a == "--control-token":
                return args[i + 1]
        for env in (self.extra_env, os.environ):
            if env.get(CONTROL_TOKEN_ENV):
                return env[CONTROL_TOKEN_ENV]
        if isinstance(self.config, dict):
            return (self.config.get("Lemu") or {}).get("ControlToken")
        return None

    # ---- life cycle ------------------------------------------------------------------------

    def start(self):
        """Start lemu and wait for its URL line. Raises LemuError when it does not come up."""
        cmd = [self.lemu_bin, "serve", "--listen", "127.0.0.1:0",
               "--state-dir", os.path.join(self.workdir, "state")]
        if isinstance(self.config, dict):
            path = os.path.join(self.workdir, "lemu.json")
            with open(path, "w") as f:
                json.dump(self.config, f)
            cmd += ["-c", path]
        elif self.config is not None:
            cmd += ["-c", os.fspath(self.config)]
        cmd += self.args
        env = dict(os.environ)
        if self.functions_dir is not None:
            env["LEMU_SAMPLES_DIR"] = os.path.abspath(os.fspath(self.functions_dir))
        env.update(self.extra_env)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self._pump_in_background(self.proc.stderr, self._err)
        first = self._first_line()
        if not first.startswith("http://"):
            self._kill()
            self._terminating = self._stopped = True
            for t in self._threads:
                t.join(1.0)
            raise LemuError("lemu did not start (exit %s): %s" % (self.proc.returncode, self.stderr().strip()
                                                                   or first.strip()))
        self.url = first.strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self._pump_in_background(self.proc.stdout, self._out)
        return self

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop(check=exc[0] is None)

    def _first_line(self):
        got = []
        t = threading.Thread(target=lambda: got.append(self.proc.stdout.readline().decode("utf-8", "replace")),
                             daemon=True)
        t.start()
        t.join(START_TIMEOUT_S)
        if not got:
            self._kill()
            raise LemuError("lemu printed no URL within %ss; stderr:\n%s" % (START_TIMEOUT_S, self.stderr()))
        if not got[0]:
            self.proc.wait(STOP_TIMEOUT_S)
            time.sleep(0.05)
        return got[0]

    def _pump_in_background(self, stream, sink):
        def pump():
            for line in iter(stream.readline, b""):
                with self._lock:
                    sink.append(line.decode("utf-8", "replace"))
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        self._threads.append(t)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crash_report(self):
        """None while lemu runs (or after a clean stop); otherwise why it is not fine: it exited
        by itself (lemu never does), exited non-zero, or printed a sanitizer report."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        err = self.stderr()
        if rc is not None and not self._terminating:
            return "lemu exited by itself with status %s while the test ran; stderr:\n%s" % (rc, _tail(err))
        if any(m in err for m in SANITIZER_MARKERS):
            return "lemu printed a sanitizer report:\n%s" % _tail(err)
        if self._terminating and rc not in (0, None):
            return "lemu exited with status %s on SIGTERM; stderr:\n%s" % (rc, _tail(err))
        return None

    def stop(self, check=True):
        """SIGTERM, wait, and (check=True) raise LemuError if lemu crashed, hung, exited non-zero
        or printed a sanitizer report. Idempotent."""
        if self.proc is None or self._stopped:
            return
        hung = False
        report = self.crash_report()  # an exit before SIGTERM is a crash
        self._terminating = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                hung = True
                self._kill()
        for t in self._threads:
            t.join(1.0)
        self._stopped = True
        self.returncode = self.proc.returncode
        if report is None and not hung:
            report = self.crash_report()
        if self._own_workdir and report is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if not check:
            return
        if hung:
            raise LemuError("lemu did not stop within %ss of SIGTERM; stderr:\n%s" % (STOP_TIMEOUT_S,
                                                                                     _tail(self.stderr())))
        if report:
            raise LemuError(report)

    # ---- clients ---------------------------------------------------------------------------

    def lambda_client(self, region_name=DEFAULT_REGION, retries=False, **config_kw):
        """A boto3 Lambda client for this server. SDK retries are off unless retries=True, so a
        test sees exactly what lemu answered (a throttle is a 429, not a slow success)."""
        import boto3
        import botocore.config
        kw = {"read_timeout": 120, "connect_timeout": 5}
        if not retries:
            kw["retries"] = {"total_max_attempts": 1, "mode": "standard"}  # max_attempts counts retries
        kw.update(config_kw)
        return boto3.client("lambda", endpoint_url=self.url, region_name=region_name,
                            config=botocore.config.Config(**kw), **DUMMY_CREDENTIALS)

    def request(self, method, path, body=None, headers=None):
        """One HTTP request to lemu: (status, headers dict, body bytes). body: bytes, str, or a
        JSON-able object. Carries the control token, if any (headers can override it)."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/json"}
        if self.control_token:
            hdrs[CONTROL_TOKEN_HEADER] = self.control_token
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _control(self, method, path, body=None, ok=(200, 201, 204)):
        status, _, data = self.request(method, path, body)
        if status not in ok:
            raise LemuError("%s %s: HTTP %s %s" % (method, path, status, data.decode("utf-8", "replace")))
        return json.loads(data) if data else None

    # ---- faults ----------------------------------------------------------------------------

    def fault(self, rule=None, *, function=None, fault=None, when=None, times=None, params=None, match=None):
        """Add a fault rule through the control API (POST /lemu/v1/faults); returns its id.

        Either a whole rule dict (`{"Function": "echo", "Fault": "throttle", "When": {"Nth": [2]}}`)
        or keywords: fault("throttle", function="echo", when={"Every": 2}, times=1). A string as
        the first argument is the fault kind; function defaults to "*" (every function)."""
        if isinstance(rule, str):
            fault, rule = rule, None
        if rule is None:
            if not fault:
                raise TypeError("fault(): give a rule dict or a fault kind")
            rule = {"Function": function or "*", "Fault": fault}
            for key, val in (("When", when), ("Times", times), ("Params", params), ("Match", match)):
                if val is not None:
                    rule[key] = val
        return self._control("POST", "/lemu/v1/faults", rule)["Id"]

    def faults(self):
        """The rules in force, each with its "Id" and "Fired" count."""
        return self._control("GET", "/lemu/v1/faults")["Faults"]

    def clear_faults(self, rule_id=None):
        """Remove one rule, or all of them."""
        self._control("DELETE", "/lemu/v1/faults" + ("/" + rule_id if rule_id else ""))

    # ---- observation -----------------------------------------------------------------------

    def logs(self, function=None):
        """What lemu printed on stdout so far: every function's log (handler output, START, END,
        REPORT), one "[function] line" per line. With function=NAME, only that function's lines,
        without the "[NAME] " prefix."""
        with self._lock:
            lines = list(self._out)
        if function is None:
            return "".join(lines)
        prefix = "[%s] " % function
        return "".join(l[len(prefix):] for l in lines if l.startswith(prefix))

    def stderr(self):
        """lemu's own diagnostics ("lemu: ..." lines: startup, fault firings, async delivery)."""
        with self._lock:
            return "".join(self._err)

    def wait_for_log(self, text, function=None, timeout=5.0, stderr=False):
        """Wait until `text` (a substring, or a predicate on one line) appears in logs(function)
        (or stderr()); returns the line. Raises LemuError on timeout."""
        match = text if callable(text) else (lambda line: text in line)
        deadline = time.monotonic() + timeout
        while True:
            for line in (self.stderr() if stderr else self.logs(function)).splitlines():
                if match(line):
                    return line
            if time.monotonic() >= deadline:
                raise LemuError("no log line matching %r within %ss" % (text, timeout))
            time.sleep(0.02)

    def metrics_text(self):
        """GET /lemu/v1/metrics: the Prometheus text exposition."""
        status, _, data = self.request("GET", "/lemu/v1/metrics")
        if status != 200:
            raise LemuError("GET /lemu/v1/metrics: HTTP %s" % status)
        return data.decode()

    def metric(self, name, **labels):
        """The value of one sample of GET /lemu/v1/metrics (0.0 when absent), e.g.
        metric("aws_lambda_invocations_total", function_name="echo")."""
        return parse_metrics(self.metrics_text()).get(_sample_key(name, labels), 0.0)

    def queue(self):
        """Async events waiting or in flight (GET /lemu/v1/queue)."""
        return self._control("GET", "/lemu/v1/queue")["Events"]

    def destinations(self, arn=None):
        """Records delivered to SQS/SNS/EventBridge destinations and DLQs (GET /lemu/v1/destinations)."""
        q = "?arn=" + urllib.request.quote(arn, safe="") if arn else ""
        return self._control("GET", "/lemu/v1/destinations" + q)["Records"]

    def __repr__(self):
        return "<LemuServer %s>" % (self.url or "not started")


def _tail(text, n=4000):
    return text if len(text) <= n else "...\n" + text[-n:]


def _sample_key(name, labels):
    return (name, tuple(sorted((k, str(v)) for k, v in labels.items())))


def parse_metrics(text):
    """Prometheus text format → {(name, ((label, value), ...)): float} (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        labels = {}
        name = head
        if "{" in head:
            name, _, rest = head.partition("{")
            rest = rest.rstrip("}")
            i = 0
            while i < len(rest):
                eq = rest.index("=", i)
                key = rest[i:eq].strip().lstrip(",").strip()
                j = eq + 2  # past ="
                val = []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        val.append({"n": "\n"}.get(rest[j], rest[j]))
                    else:
                        val.append(rest[j])
                    j += 1
                labels[key] = "".join(val)
                i = j + 1
        out[_sample_key(name, labels)] = float(value)
    return out
