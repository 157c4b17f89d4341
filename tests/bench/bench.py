#!/usr/bin/env python3
"""lemu's benchmark harness (issue 10): every row measured in one run, side by side with the
loopback floor and with serverless-offline, by one load client (tests/bench/load.c).

tests/bench/run builds what this needs (build-release/lemu, the bench programs, the peer) and
then runs this file. It prints the table and writes it, with the machine and the date, to
docs/performance.md; the analysis there comes from tests/bench/analysis.md. Raw numbers go to
build-release/bench/results.json, logs to build-release/bench/logs/.

Everything is loopback and bounded: every step has a count or a time limit, and the whole run
stays under three minutes on a 2-core machine. Timing targets are reported here, never asserted
in the test suite. `--lemu BIN --only STEPS --no-write` measures another build (tests/bench/README.md).
"""
import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

# The interpreters lemu and the peer start, and the yardstick `python3 -c pass`, come from this
# PATH, so they are the same binaries (a pyenv shim or a venv first on a user's PATH would add
# its own start-up cost to one side only).
BENCH_PATH = "/usr/local/bin:/usr/bin:/bin"
INVOKE_PATH = "/2015-03-31/functions/{}/invocations"
BODY = '{"hello":"world"}'
COLD_SAMPLES = 10            # cold starts per runtime and variant (each a fresh function)
COLD_GAP_S = 0.05            # idle time before each cold start
STARTUP_REPEATS = 10         # `lemu serve` -> first answered invoke
HOLD_ENVS = 1000             # concurrent environments of the sleeping handler
HOLD_MAX_MS = 60000          # the handler's hold if the harness never released it
RSS_FLAT_INVOKES = 200000    # warm invokes between the two RSS samples
RSS_FLAT_MAX_S = 45          # ... or this long, whichever comes first
TPUT64_ROUND_S = 3.0         # each round of the 64-connection throughput row
LEMU_START_TIMEOUT_S = 10
LEMU_STOP_TIMEOUT_S = 30     # 1,000 environments take a while to kill and reap
PEER_START_TIMEOUT_S = 90
PEER_FN = {"python": "bench-dev-echoPython", "node": "bench-dev-echoNode"}
COMPARE_ROUNDS = 3           # alternating lemu / peer rounds per Python and Node row

# Targets of issue 10.
T_WARM_P50_X_FLOOR = 2.0
T_RPS_64 = 25000
T_COLD_C_MS = 2.0
T_COLD_PY_EXTRA_MS = 10.0
T_HOLD_RSS_MB = 64
T_IDLE_RSS_MB = 10
T_STARTUP_MS = 20
T_PY8_X_PEER = 3.0
T_RSS_FLAT_PCT = 5.0


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, build, out_md, quick, skip_peer, lemu=None, only=None):
        self.build = build
        self.only = only
        self.bench_dir = os.path.join(build, "bench")
        self.load_bin = os.path.join(self.bench_dir, "lemu-load")
        self.floor_bin = os.path.join(self.bench_dir, "lemu-floor")
        self.relay_bin = os.path.join(self.bench_dir, "lemu-relay")
        self.lemu_bin = lemu or os.path.join(build, "lemu")
        self.samples = os.path.join(build, "sample-functions")
        self.peer_dir = os.path.join(build, "bench-peer")
        self.logs = os.path.join(self.bench_dir, "logs")
        self.out_md = out_md
        self.quick = quick
        self.skip_peer = skip_peer
        self.r = {}              # results, written to results.json
        self.floor_proc = None   # the floor server, up from run_floor to the end of the run
        self.floor_url = None
        self.notes = []          # what went wrong, printed under the table
        self.tmp = tempfile.mkdtemp(prefix="lemu-bench-")
        os.makedirs(self.logs, exist_ok=True)
        self.env = dict(os.environ)
        self.env["PATH"] = BENCH_PATH
        for k in ("PYTHONPATH", "VIRTUAL_ENV", "NODE_OPTIONS", "LEMU_NO_CGROUP"):
            self.env.pop(k, None)

    # ---- the load client ----

    def load(self, url, conns=1, duration=None, count=None, body=BODY, samples=False, timeout=None):
        cmd = [self.load_bin, "-c", str(conns), "-b", body]
        if duration:
            cmd += ["-d", str(duration)]
        if count:
            cmd += ["-n", str(count)]
        if samples:
            cmd += ["-s"]
        cmd.append(url)
        limit = timeout or ((duration or 60) + 30)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=self.env)
        if not p.stdout.strip():
            raise RuntimeError("load client failed: %s" % p.stderr.strip())
        res = json.loads(p.stdout)
        if res["errors"] or res["non2xx"]:
            self.notes.append("%s (%d conns): %d connection errors, %d non-2xx answers"
                              % (url.split("/functions/")[-1], conns, res["errors"], res["non2xx"]))
        return res

    def exec_time(self, cmd, repeats=10):
        p = subprocess.run([self.load_bin, "exec", "-r", str(repeats), "--"] + cmd,
                           capture_output=True, text=True, timeout=120, env=self.env)
        return json.loads(p.stdout) if p.stdout.strip() else None

    # ---- the floor ----

    def run_floor(self):
        """The floor's rows. The server stays up until the end of the run: the C warm-latency row
        alternates with it (run_lemu_main), so the ratio to the floor is taken under the same load."""
        log("floor: a trivial libmicrohttpd server answering 200 {}")
        proc = subprocess.Popen([self.floor_bin, "0"], stdout=subprocess.PIPE, text=True,
                                env=self.env, start_new_session=True)
        self.floor_proc = proc
        self.floor_url = proc.stdout.readline().strip() + "/"
        url = self.floor_url
        self.load(url, 1, duration=0.3)
        f = {"c1": self.load(url, 1, duration=2)}
        f["c2"] = self.load(url, 2, duration=1.5)
        self.load(url, 64, duration=0.3)
        f["c64"] = self.load(url, 64, duration=2)
        self.r["floor"] = f

    def stop_floor(self):
        if self.floor_proc:
            self.floor_proc.terminate()
            self.floor_proc.wait(5)
            self.floor_proc = None

    def start_relay(self, n):
        """The throughput floor (relay.c): lemu's design with nothing else in it, running n copies of
        the same C echo runtime. None when it cannot start (the row then says so)."""
        try:
            with open(os.path.join(self.logs, "relay.err"), "w") as err:
                proc = subprocess.Popen([self.relay_bin, str(n), os.path.join(self.samples, "echo", "bootstrap")],
                                        stdout=subprocess.PIPE, stderr=err, text=True, env=self.env,
                                        start_new_session=True)
        except OSError as e:  # a build tree made before lemu-relay existed: `make -C tests/bench`
            self.notes.append("lemu-relay could not run: %s" % e)
            return None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            proc.kill()
            proc.wait(5)
            self.notes.append("lemu-relay did not start; see build-release/bench/logs/relay.err")
            return None
        proc.url = line + INVOKE_PATH.format("echo")
        return proc

    # ---- lemu ----

    def config(self, name, extra_env=None, cold=False, hold=False):
        """A lemu.json with the echo functions, COLD_SAMPLES copies of each for cold starts, and
        (hold) the sleeping handler."""
        s = self.samples
        fns = [
            {"FunctionName": "echo", "Runtime": "provided.al2023", "Handler": "echo",
             "CodeUri": os.path.join(s, "echo"), "Timeout": 30},
            {"FunctionName": "echo-python", "Runtime": "python3.12", "Handler": "app.handler",
             "CodeUri": os.path.join(s, "echo-python"), "Timeout": 30},
            {"FunctionName": "echo-node", "Runtime": "nodejs20.x", "Handler": "index.handler",
             "CodeUri": os.path.join(s, "echo-node"), "Timeout": 30},
        ]
        if cold:
            for i in range(COLD_SAMPLES):
                for kind, f in (("c", fns[0]), ("py", fns[1]), ("node", fns[2])):
                    c = dict(f)
                    c["FunctionName"] = "cold-%s-%d" % (kind, i)
                    fns.append(c)
        if hold:
            fns.append({"FunctionName": "hold", "Runtime": "provided.al2023", "Handler": "hold",
                        "CodeUri": os.path.join(self.bench_dir, "functions", "hold"),
                        "Timeout": HOLD_MAX_MS // 1000 + 30,
                        "Environment": {"Variables": extra_env or {}}})
        cfg = {"Account": {"ConcurrentExecutions": HOLD_ENVS + 100}, "Functions": fns}
        path = os.path.join(self.tmp, name + ".json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def start_lemu(self, name, cfg, args=(), env=None):
        state = tempfile.mkdtemp(prefix="state-", dir=self.tmp)
        out = open(os.path.join(self.logs, name + ".out"), "w")
        err = open(os.path.join(self.logs, name + ".err"), "w")
        e = dict(self.env)
        e.update(env or {})
        cmd = [self.lemu_bin, "serve", "-c", cfg, "--listen", "127.0.0.1:0", "--state-dir", state]
        cmd += list(args)
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=e, start_new_session=True)
        deadline = time.monotonic() + LEMU_START_TIMEOUT_S
        url = None
        while time.monotonic() < deadline and proc.poll() is None:
            with open(out.name) as f:
                line = f.readline()
            if line.endswith("\n"):
                url = line.strip()
                break
            time.sleep(0.01)
        if not url:
            proc.kill()
            raise RuntimeError("lemu did not start; see %s" % err.name)
        proc.url = url
        proc.logfiles = (out, err)
        return proc

    def stop_lemu(self, proc):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(LEMU_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.notes.append("lemu took more than %d s to stop; killed" % LEMU_STOP_TIMEOUT_S)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for f in proc.logfiles:
            f.close()

    @staticmethod
    def status_kb(pid):
        vals = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    vals[k] = int(v.split()[0])
        return vals

    @staticmethod
    def cpu_s(pid):
        """utime + stime of pid in seconds (0 when it is gone)."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return 0.0

    @staticmethod
    def children(pid):
        """pid's descendants, from one scan of /proc (/proc/PID/task/*/children is not always
        built in)."""
        kids = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
        out, todo = [], [pid]
        while todo:
            for k in kids.get(todo.pop(), []):
                out.append(k)
                todo.append(k)
        return out

    def load_cpu(self, proc, url, conns, **kw):
        """A load run that also reports the CPU it cost per invoke: lemu's, its environments'
        (the handler processes) and the client's."""
        kids = self.children(proc.pid)
        l0, k0 = self.cpu_s(proc.pid), sum(self.cpu_s(k) for k in kids)
        res = self.load(url, conns, **kw)
        l1, k1 = self.cpu_s(proc.pid), sum(self.cpu_s(k) for k in kids)
        n = max(res["requests"], 1)
        res["lemu_cpu_us"] = (l1 - l0) * 1e6 / n
        res["env_cpu_us"] = (k1 - k0) * 1e6 / n
        res["client_cpu_us"] = res.get("client_cpu_s", 0) * 1e6 / n
        return res

    def url(self, proc, fn):
        return proc.url + INVOKE_PATH.format(fn)

    def limits_line(self, proc):
        with open(proc.logfiles[1].name) as f:
            for line in f:
                if "limits:" in line:
                    return line.split("limits:", 1)[1].strip()
        return "?"

    def run_lemu_main(self):
        """The warm rows, throughput, RSS, cold starts with the default sandbox."""
        log("lemu (defaults: cgroup + seccomp): idle RSS, warm latency, throughput, CPU per invoke")
        proc = self.start_lemu("lemu-main", self.config("main"))  # no cold-* functions: idle RSS
        r = self.r.setdefault("lemu", {})
        try:
            time.sleep(0.3)
            r["idle_rss_kb"] = self.status_kb(proc.pid)
            r["limits"] = self.limits_line(proc)
            u = self.url(proc, "echo")
            self.load(u, 1, count=1000)
            if self.floor_proc:  # alternate with the floor: both in the same conditions
                fl, lw = [self.r["floor"]["c1"]], []
                for _ in range(1 if self.quick else COMPARE_ROUNDS):
                    fl.append(self.load(self.floor_url, 1, duration=1.0))
                    lw.append(self.load_cpu(proc, u, 1, duration=1.0))
                self.r["floor"]["c1"] = best_by(fl, "p50_us")
                r["warm_c"] = best_by(lw, "p50_us")
            else:
                r["warm_c"] = self.load_cpu(proc, u, 1, duration=1.0 if self.quick else 2.0)
            self.load(u, 2, count=2000)
            r["tput_c2"] = self.load_cpu(proc, u, 2, duration=1.0 if self.quick else 2.0)
            # 64 connections: a warm-up that starts the 64 environments, then RSS_FLAT_INVOKES
            # invokes between two RSS samples taken in the same state (envs idle, no client).
            self.load(u, 64, count=20000, duration=10)
            time.sleep(0.5)
            r["rss_before_kb"] = self.status_kb(proc.pid)
            n = RSS_FLAT_INVOKES // (10 if self.quick else 1)
            r["flat_c64"] = self.load_cpu(proc, u, 64, count=n, duration=RSS_FLAT_MAX_S)
            time.sleep(0.5)
            r["rss_after_kb"] = self.status_kb(proc.pid)
            # The throughput row: the best of rounds, as every compared row (a neighbour's burst on
            # this shared VM hits some rounds; the long run above is shown beside it), alternating
            # with the design's floor (lemu-relay) so both see the same minutes of the VM.
            relay = self.start_relay(64)
            rounds, relay_rounds = [], []
            try:
                if relay:
                    self.load(relay.url, 64, count=20000, duration=10)
                for _ in range(1 if self.quick else COMPARE_ROUNDS):
                    if relay:
                        relay_rounds.append(self.load_cpu(relay, relay.url, 64, duration=TPUT64_ROUND_S))
                    rounds.append(self.load_cpu(proc, u, 64, duration=TPUT64_ROUND_S))
            finally:
                if relay:
                    relay.terminate()
                    relay.wait(5)
            r["tput_c64"] = best_by(rounds, "rps", highest=True)
            r["tput_c64"]["rounds_rps"] = [x["rps"] for x in rounds]
            if relay_rounds:
                r["relay_c64"] = best_by(relay_rounds, "rps", highest=True)
                r["relay_c64"]["rounds_rps"] = [x["rps"] for x in relay_rounds]
        finally:
            self.stop_lemu(proc)

    def cold_starts(self, proc):
        """COLD_SAMPLES first invokes of fresh functions, one at a time and COLD_GAP_S apart: a
        cold start as a user meets it, not one of a burst (back-to-back spawns share kernel work,
        e.g. a cgroup attach's RCU grace period)."""
        out = {}
        for kind in ("c", "py", "node"):
            lat = []
            for i in range(COLD_SAMPLES):
                time.sleep(COLD_GAP_S)
                res = self.load(proc.url + INVOKE_PATH.format("cold-%s-%d" % (kind, i)), 1, count=1,
                                samples=True, timeout=30)
                lat += res["samples_us"]
            lat.sort()
            out[kind] = {"samples_us": lat, "min_us": lat[0], "p50_us": lat[len(lat) // 2],
                         "max_us": lat[-1]} if lat else None
        return out

    def run_variants(self):
        """Cold starts without the sandbox and/or without cgroups (what each layer costs)."""
        variants = [("default", [], {}), ("no-sandbox", ["--no-sandbox"], {}),
                    ("no-cgroup", [], {"LEMU_NO_CGROUP": "1"}),
                    ("neither", ["--no-sandbox"], {"LEMU_NO_CGROUP": "1"})]
        cold = self.r.setdefault("cold", {})
        for name, args, env in variants:
            log("lemu (%s): cold starts" % name)
            proc = self.start_lemu("lemu-cold-" + name, self.config("cold-" + name, cold=True), args, env)
            try:
                cold[name] = self.cold_starts(proc)
            finally:
                self.stop_lemu(proc)

    def run_startup(self):
        s = self.samples
        cfg = {"Functions": [{"FunctionName": "echo", "Runtime": "provided.al2023", "Handler": "echo",
                              "CodeUri": os.path.join(s, "echo")}]}
        path = os.path.join(self.tmp, "startup.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        out = {}
        for name, args, env in (("default", [], {}), ("no-sandbox", ["--no-sandbox"], {}),
                                ("no-cgroup", [], {"LEMU_NO_CGROUP": "1"})):
            log("lemu serve -> first answered invoke (%s)" % name)
            state = tempfile.mkdtemp(prefix="state-", dir=self.tmp)
            e = dict(self.env)
            e.update(env)
            cmd = [self.load_bin, "startup", "-r", str(STARTUP_REPEATS), "-b", BODY,
                   "-p", INVOKE_PATH.format("echo"), "--", self.lemu_bin, "serve", "-c", path,
                   "--listen", "127.0.0.1:0", "--state-dir", state] + args
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=e)
            out[name] = json.loads(p.stdout) if p.stdout.strip() else None
        self.r["startup"] = out

    def run_hold(self):
        """HOLD_ENVS concurrent invocations of the sleeping handler: time to fill, lemu's RSS."""
        log("lemu: %d concurrent environments of a sleeping handler" % HOLD_ENVS)
        started = os.path.join(self.tmp, "hold-started")
        release = os.path.join(self.tmp, "hold-release")
        os.mkfifo(started)
        os.mkfifo(release)
        rfd = os.open(started, os.O_RDONLY | os.O_NONBLOCK)
        keep = os.open(started, os.O_WRONLY | os.O_NONBLOCK)  # no EOF while no handler writes
        cfg = self.config("hold", {"HOLD_STARTED": started, "HOLD_RELEASE": release}, hold=True)
        proc = self.start_lemu("lemu-hold", cfg)
        h = {"envs": HOLD_ENVS}
        result = {}
        try:
            rss0 = self.status_kb(proc.pid)
            cpu0 = self.cpu_s(proc.pid)
            t0 = time.monotonic()

            def client():
                try:
                    result["load"] = self.load(self.url(proc, "hold"), HOLD_ENVS, count=HOLD_ENVS,
                                               body=str(HOLD_MAX_MS), timeout=HOLD_MAX_MS / 1000 + 60)
                except Exception as e:  # reported below
                    result["error"] = str(e)

            th = threading.Thread(target=client, daemon=True)
            th.start()
            n, t_last, peak = 0, None, rss0
            deadline = t0 + 60
            while n < HOLD_ENVS and time.monotonic() < deadline and th.is_alive():
                ready, _, _ = select.select([rfd], [], [], 0.05)
                if ready:
                    got = len(os.read(rfd, 4096))
                    if got:
                        n += got
                        t_last = time.monotonic()
                peak_now = self.status_kb(proc.pid)
                if peak_now["VmRSS"] > peak["VmRSS"]:
                    peak = peak_now
            h["filled"] = n
            h["fill_s"] = (t_last - t0) if t_last else None
            h["lemu_cpu_per_env_ms"] = (self.cpu_s(proc.pid) - cpu0) * 1e3 / max(n, 1)
            time.sleep(0.3)  # all held: settle, then read lemu's RSS with every environment busy
            held = self.status_kb(proc.pid)
            h["rss_held_kb"] = held
            h["rss_peak_kb"] = peak if peak["VmRSS"] > held["VmRSS"] else held
            w = os.open(release, os.O_WRONLY | os.O_NONBLOCK)
            os.close(w)  # every handler's poll() sees POLLHUP: all answer now
            th.join(HOLD_MAX_MS / 1000 + 60)
            h["load"] = result.get("load")
            if result.get("error"):
                self.notes.append("hold client: " + result["error"])
            time.sleep(0.3)
            h["rss_idle_kb"] = self.status_kb(proc.pid)
        finally:
            t = time.monotonic()
            self.stop_lemu(proc)
            h["stop_s"] = time.monotonic() - t
            os.close(rfd)
            os.close(keep)
        self.r["hold"] = h

    def run_reference(self):
        log("reference: python3 -c pass, node -e 0")
        self.r["ref"] = {"python": self.exec_time(["python3", "-c", "pass"]),
                         "node": self.exec_time(["node", "-e", "0"], 5)}

    # ---- the peer: serverless-offline ----

    def start_peer(self, p):
        """Starts serverless offline; returns (proc, base URL) or (None, None) with p["why"] set."""
        if self.skip_peer:
            p["why"] = "skipped (--no-peer)"
            return None, None
        failed = os.path.join(self.peer_dir, "INSTALL_FAILED")
        sls = os.path.join(self.peer_dir, "node_modules", ".bin", "serverless")
        if os.path.exists(failed) or not os.path.exists(sls):
            why = open(failed).read().strip() if os.path.exists(failed) else "not installed"
            p["why"] = "serverless-offline unavailable: " + why
            return None, None
        svc = os.path.join(self.peer_dir, "svc")
        shutil.rmtree(svc, ignore_errors=True)
        os.makedirs(os.path.join(svc, "echo_python"))
        os.makedirs(os.path.join(svc, "echo_node"))
        shutil.copy(os.path.join(REPO, "sample-functions", "echo-python", "app.py"), os.path.join(svc, "echo_python"))
        shutil.copy(os.path.join(REPO, "sample-functions", "echo-node", "index.mjs"), os.path.join(svc, "echo_node"))
        shutil.copy(os.path.join(HERE, "peer", "serverless.yml"), svc)
        os.symlink(os.path.join(self.peer_dir, "node_modules"), os.path.join(svc, "node_modules"))
        try:
            with open(os.path.join(self.peer_dir, "node_modules", "serverless", "package.json")) as f:
                p["serverless"] = json.load(f)["version"]
            with open(os.path.join(self.peer_dir, "node_modules", "serverless-offline", "package.json")) as f:
                p["offline"] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            pass
        port = free_port()
        e = dict(self.env)
        e.update({"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
                  "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "CI": "1"})
        log("peer: serverless offline start (serverless %s, serverless-offline %s)"
            % (p.get("serverless"), p.get("offline")))
        out = open(os.path.join(self.logs, "peer.out"), "w")
        t0 = time.monotonic()
        proc = subprocess.Popen([sls, "offline", "start", "--lambdaPort", str(port),
                                 "--httpPort", str(free_port()), "--websocketPort", str(free_port())],
                                cwd=svc, stdout=out, stderr=subprocess.STDOUT, env=e, start_new_session=True)
        proc.logfile = out
        while time.monotonic() - t0 < PEER_START_TIMEOUT_S and proc.poll() is None:
            if port_open(port):
                p["start_s"] = time.monotonic() - t0
                return proc, "http://127.0.0.1:%d" % port
            time.sleep(0.1)
        p["why"] = "serverless offline did not listen within %d s (see %s)" % (PEER_START_TIMEOUT_S, out.name)
        self.stop_peer(proc)
        return None, None

    @staticmethod
    def stop_peer(proc):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.logfile.close()

    def run_compare(self):
        """The Python and Node rows, lemu and serverless-offline side by side: both serve at the same
        time and are measured in alternating rounds, so a neighbour's load on a shared machine hits
        both sides alike; each row keeps its best round (best_by)."""
        p = {"ok": False}
        self.r["peer"] = p
        lm = self.r.setdefault("lemu", {})
        log("lemu and the peer, side by side: Python and Node echo")
        lemu = self.start_lemu("lemu-compare", self.config("compare"))
        peer, base = self.start_peer(p)
        try:
            sides = [("lemu", lemu, lambda kind: self.url(lemu, {"python": "echo-python", "node": "echo-node"}[kind]), lm)]
            if peer:
                sides.append(("peer", peer, lambda kind: base + INVOKE_PATH.format(PEER_FN[kind]), p))
            rounds = 1 if self.quick else COMPARE_ROUNDS
            for kind in ("python", "node"):
                for _, proc, url, _ in sides:  # warm: 8 environments (the peer: 8 instances) each
                    self.load(url(kind), 1, count=100, timeout=60)
                    self.load(url(kind), 8, count=400, duration=15)
                runs = {name: {"warm": [], "tput8": []} for name, _, _, _ in sides}
                for _ in range(rounds):
                    for name, proc, url, _ in sides:
                        runs[name]["warm"].append(self.load_cpu(proc, url(kind), 1, duration=1.0))
                    for name, proc, url, _ in sides:
                        runs[name]["tput8"].append(self.load_cpu(proc, url(kind), 8, duration=1.5))
                for name, _, _, dest in sides:
                    dest["warm_" + kind] = best_by(runs[name]["warm"], "p50_us")
                    dest["tput8_" + kind] = best_by(runs[name]["tput8"], "rps", highest=True)
                    dest["rounds"] = rounds
            p["ok"] = bool(peer)
        except Exception as ex:  # the peer's failure must not sink lemu's rows
            p["why"] = "peer run failed: %s" % ex
            p["ok"] = False
        finally:
            self.stop_lemu(lemu)
            if peer:
                self.stop_peer(peer)

    # ---- report ----

    def machine(self):
        model = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "?"
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        mhd = subprocess.run(["pkg-config", "--modversion", "libmicrohttpd"], capture_output=True,
                             text=True).stdout.strip()
        return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
                "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "commit": commit + ("+changes" if dirty else ""), "mhd": mhd}

    def report(self):
        R = self.r
        fl = R["floor"]
        lm = R.get("lemu", {})
        peer = R.get("peer", {})
        inv_floor_p50 = 2 * fl["c1"]["p50_us"]
        inv_floor_p99 = 2 * fl["c1"]["p99_us"]
        rows = []   # (group, label, value, x_floor, peer, lemu/peer, target, met)
        targets = []

        def peer_val(key, field):
            if not peer.get("ok"):
                return None
            return peer.get(key, {}).get(field)

        def add(group, label, value, xfloor="", peerv="", ratio="", target="", met=None):
            rows.append((group, label, value, xfloor, peerv, ratio, target, met))

        add("floor", "1 loopback exchange, 1 conn: p50 / p99",
            "%s / %s" % (us(fl["c1"]["p50_us"]), us(fl["c1"]["p99_us"])), "1.00")
        add("floor", "invoke floor (2 exchanges): p50 / p99", "%s / %s" % (us(inv_floor_p50), us(inv_floor_p99)), "1.00")
        for c in ("c1", "c2", "c64"):
            add("floor", "exchanges/s, %s conn%s" % (c[1:], "" if c == "c1" else "s"), rate(fl[c]["rps"]))
        # warm latency
        for kind, label in (("c", "C `provided` echo"), ("python", "Python echo"), ("node", "Node echo")):
            w = lm.get("warm_" + kind)
            if not w:
                continue
            pv50, pv99 = peer_val("warm_" + kind, "p50_us"), peer_val("warm_" + kind, "p99_us")
            met = None
            tgt = ""
            if kind == "c":
                met = w["p50_us"] <= T_WARM_P50_X_FLOOR * inv_floor_p50
                tgt = "p50 ≤ %.1f × floor" % T_WARM_P50_X_FLOOR
                targets.append(("warm invoke p50 (C, 1 conn) ≤ 2.0 × invoke floor",
                                "%s = %.2f × %s" % (us(w["p50_us"]), w["p50_us"] / inv_floor_p50, us(inv_floor_p50)), met))
            add("warm invoke, 1 conn", "%s: p50 / p99" % label,
                "%s / %s" % (us(w["p50_us"]), us(w["p99_us"])),
                "%.2f / %.2f" % (w["p50_us"] / inv_floor_p50, w["p99_us"] / inv_floor_p99),
                "%s / %s" % (us(pv50), us(pv99)) if pv50 else ("—" if kind == "c" else "unavailable"),
                "%.2f / %.2f" % (w["p50_us"] / pv50, w["p99_us"] / pv99) if pv50 else "",
                tgt, met)
        # throughput
        for key, conns in (("warm_c", 1), ("tput_c2", 2), ("tput_c64", 64)):
            t = lm.get(key)
            if not t:
                continue
            fkey = "c%d" % conns
            met = None
            tgt = ""
            if conns == 64:
                met = t["rps"] >= T_RPS_64
                tgt = "≥ %s/s" % rate(T_RPS_64)
                relay = lm.get("relay_c64")
                targets.append(("≥ 25,000 warm invokes/s with 64 connections (C)", rate(t["rps"]) + "/s" + (
                    " (the design's floor, lemu-relay, in the same minutes: %s/s)" % rate(relay["rps"]) if relay else ""),
                    met))
            detail = ""
            if conns == 64:
                detail = " (p50 %s)" % us(t["p50_us"])
                if len(t.get("rounds_rps", [])) > 1:
                    detail = " (p50 %s; best of %s/s)" % (us(t["p50_us"]), " · ".join(rate(x) for x in t["rounds_rps"]))
            add("throughput", "C echo invokes/s, %d conn%s (%d env%s)" % (conns, "" if conns == 1 else "s", conns,
                                                                         "" if conns == 1 else "s"),
                rate(t["rps"]) + "/s" + detail, "%.2f" % (t["rps"] / fl[fkey]["rps"]), "", "", tgt, met)
        if lm.get("relay_c64"):
            t, lw = lm["relay_c64"], lm["tput_c64"]
            add("throughput", "the design's floor, 64 conns: lemu-relay (libmicrohttpd, one thread, "
                "suspend/resume, the same runtime; nothing else)",
                rate(t["rps"]) + "/s (best of %s/s; lemu %.2f × this)" % (
                    " · ".join(rate(x) for x in t["rounds_rps"]), lw["rps"] / t["rps"]),
                "%.2f" % (t["rps"] / fl["c64"]["rps"]))
        if lm.get("flat_c64"):
            t = lm["flat_c64"]
            add("throughput", "C echo invokes/s, 64 conns, the %s-invoke run of the RSS row" % rate(t["requests"]),
                rate(t["rps"]) + "/s (p50 %s)" % us(t["p50_us"]), "%.2f" % (t["rps"] / fl["c64"]["rps"]))
        for kind, label in (("python", "Python echo"), ("node", "Node echo")):
            t = lm.get("tput8_" + kind)
            if not t:
                continue
            pv = peer_val("tput8_" + kind, "rps")
            met = None
            tgt = ""
            if kind == "python":
                tgt = "≥ %.0f × peer" % T_PY8_X_PEER
                met = (t["rps"] >= T_PY8_X_PEER * pv) if pv else None
                targets.append(("Python echo, 8 conns ≥ 3 × serverless-offline",
                                ("%s/s vs %s/s = %.1f ×" % (rate(t["rps"]), rate(pv), t["rps"] / pv)) if pv
                                else peer_why(peer), met))
            add("throughput", "%s invokes/s, 8 conns (8 envs)" % label, rate(t["rps"]) + "/s", "",
                rate(pv) + "/s" if pv else "unavailable", "%.2f" % (t["rps"] / pv) if pv else "", tgt, met)
        # where the CPU goes: per invoke, lemu / the handler processes / the load client
        for key, label in (("warm_c", "C echo, 1 conn"), ("tput_c64", "C echo, 64 conns"),
                           ("relay_c64", "C echo, 64 conns, lemu-relay in lemu's place"),
                           ("warm_python", "Python echo, 1 conn"), ("tput8_python", "Python echo, 8 conns"),
                           ("warm_node", "Node echo, 1 conn"), ("tput8_node", "Node echo, 8 conns")):
            t = lm.get(key)
            if not t or "lemu_cpu_us" not in t:
                continue
            total = t["lemu_cpu_us"] + t["env_cpu_us"] + t["client_cpu_us"]
            add("CPU per invoke", "%s: lemu / handler / client → 2-core ceiling" % label,
                "%.0f / %.0f / %.0f µs → %s/s" % (t["lemu_cpu_us"], t["env_cpu_us"], t["client_cpu_us"],
                                                rate(2e6 / total) if total else "—"))
        for kind in ("python", "node"):
            t = peer.get("tput8_" + kind) if peer.get("ok") else None
            if t and "lemu_cpu_us" in t:
                add("CPU per invoke", "peer, %s echo, 8 conns: serverless-offline (node) / handler / client → "
                    "2-core ceiling" % kind.capitalize(),
                    "%.0f / %.0f / %.0f µs → %s/s" % (t["lemu_cpu_us"], t["env_cpu_us"], t["client_cpu_us"],
                                                    rate(2e6 / (t["lemu_cpu_us"] + t["env_cpu_us"] + t["client_cpu_us"]))))
        # cold start
        cold = R.get("cold", {})
        ref = R.get("ref", {})
        py_ref = (ref.get("python") or {}).get("p50_ms")
        node_ref = (ref.get("node") or {}).get("p50_ms")
        vnames = {"default": "cgroup + seccomp (defaults)", "no-sandbox": "--no-sandbox",
                  "no-cgroup": "LEMU_NO_CGROUP=1", "neither": "--no-sandbox, LEMU_NO_CGROUP=1"}
        for kind, label in (("c", "`provided` C"), ("py", "Python"), ("node", "Node")):
            for v in ("default", "no-sandbox", "no-cgroup", "neither"):
                res = cold.get(v, {}).get(kind)
                if not res:
                    continue
                p50 = res["p50_us"] / 1000
                met, tgt = None, ""
                if v == "default" and kind == "c":
                    met = p50 <= T_COLD_C_MS
                    tgt = "≤ %.0f ms" % T_COLD_C_MS
                    targets.append(("cold start, `provided` C bootstrap ≤ 2 ms", ms(p50), met))
                if v == "default" and kind == "py" and py_ref:
                    met = p50 <= py_ref + T_COLD_PY_EXTRA_MS
                    tgt = "≤ python3 -c pass + 10 ms = %s" % ms(py_ref + T_COLD_PY_EXTRA_MS)
                    targets.append(("cold start, Python ≤ `python3 -c pass` + 10 ms",
                                    "%s vs %s + 10 ms" % (ms(p50), ms(py_ref)), met))
                add("cold start", "%s, %s: p50 (min–max)" % (label, vnames[v]),
                    "%s (%s–%s)" % (ms(p50), ms(res["min_us"] / 1000), ms(res["max_us"] / 1000)),
                    "", "", "", tgt, met)
        if py_ref:
            add("cold start", "reference: `python3 -c pass` / `node -e 0` (p50 of 10)",
                "%s / %s" % (ms(py_ref), ms(node_ref) if node_ref else "?"))
        # scale and memory
        h = R.get("hold")
        if h:
            rss = h["rss_peak_kb"]["VmRSS"] / 1024
            held_ok = h["filled"] == HOLD_ENVS and h.get("load") and h["load"]["requests"] == HOLD_ENVS \
                and not h["load"]["non2xx"]
            met = held_ok and rss <= T_HOLD_RSS_MB
            targets.append(("1,000 concurrent environments held; lemu RSS ≤ 64 MB then",
                            "%d/%d held, %s" % (h["filled"], HOLD_ENVS, mb(rss)), met))
            add("scale", "%d concurrent envs of a sleeping C handler: held / time to fill / lemu CPU per env"
                % HOLD_ENVS, "%d / %s / %s" % (h["filled"], secs(h["fill_s"]), ms(h.get("lemu_cpu_per_env_ms"))))
            add("scale", "lemu RSS with %d envs busy (anon part) / after, all idle" % HOLD_ENVS,
                "%s (%s) / %s" % (mb(rss), mb(h["rss_peak_kb"]["RssAnon"] / 1024), mb(h["rss_idle_kb"]["VmRSS"] / 1024)),
                "", "", "", "≤ %d MB" % T_HOLD_RSS_MB, met)
            add("scale", "lemu stop with %d envs (kill + reap all)" % HOLD_ENVS, secs(h.get("stop_s")))
        if lm.get("idle_rss_kb"):
            i = lm["idle_rss_kb"]
            met = i["VmRSS"] / 1024 <= T_IDLE_RSS_MB
            targets.append(("idle lemu RSS ≤ 10 MB", "%s (anon %s, shared libraries %s)" % (
                mb(i["VmRSS"] / 1024), mb(i["RssAnon"] / 1024), mb(i["RssFile"] / 1024)), met))
            add("memory", "idle lemu RSS (anon / file-backed: shared libraries)",
                "%s (%s / %s)" % (mb(i["VmRSS"] / 1024), mb(i["RssAnon"] / 1024), mb(i["RssFile"] / 1024)),
                "", "", "", "≤ %d MB" % T_IDLE_RSS_MB, met)
        if lm.get("rss_before_kb") and lm.get("flat_c64"):
            a, b = lm["rss_before_kb"]["VmRSS"], lm["rss_after_kb"]["VmRSS"]
            pct = (b - a) * 100.0 / a
            n = lm["flat_c64"]["requests"]
            met = (abs(pct) <= T_RSS_FLAT_PCT) if n >= RSS_FLAT_INVOKES else None  # --quick: fewer invokes
            targets.append(("RSS flat (±5%) across 200,000 warm invokes",
                            "%s → %s (%+.1f%%) over %s invokes" % (mb(a / 1024), mb(b / 1024), pct, rate(n)), met))
            add("memory", "lemu RSS before → after %s warm invokes (64 conns)" % rate(n),
                "%s → %s (%+.1f%%)" % (mb(a / 1024), mb(b / 1024), pct), "", "", "", "within ±5%", met)
        st = R.get("startup", {})
        for v in ("default", "no-sandbox", "no-cgroup"):
            s = st.get(v)
            if not s or not s.get("ok"):
                continue
            met, tgt = None, ""
            if v == "default":
                met = s["p50_ms"] <= T_STARTUP_MS
                tgt = "≤ %d ms" % T_STARTUP_MS
                targets.append(("`lemu serve` to first answered invoke ≤ 20 ms (C echo)", ms(s["p50_ms"]), met))
            add("start", "`lemu serve` → first answered invoke (C echo), %s: p50 (min–max)" % vnames[v],
                "%s (%s–%s)" % (ms(s["p50_ms"]), ms(s["min_ms"]), ms(s["max_ms"])), "", "", "", tgt, met)
        if peer.get("ok"):
            add("start", "peer: `serverless offline start` → listening", secs(peer.get("start_s")))
        return rows, targets

    def write(self, rows, targets, m, load_before, load_after, elapsed):
        peer = self.r.get("peer", {})
        lines = []
        lines.append("# lemu performance")
        lines.append("")
        lines.append("Generated by `tests/bench/run` — do not edit: rerun it. (The analysis below comes from "
                     "`tests/bench/analysis.md`.)")
        lines.append("")
        lines.append("- **Date**: %s. **Machine**: %s, %d cores, Linux %s. Load average before / after the "
                     "run: %s / %s%s." % (m["date"], m["cpu"], m["cores"], m["kernel"], load_before, load_after,
                                          " — the machine was busy with other work, so absolute numbers are noisy"
                                          if float(load_before.split()[0]) > 1.0 else ""))
        lines.append("- **lemu**: commit %s, Release build (`-O3`), `build-release/`; %s." % (
            m["commit"], self.r.get("lemu", {}).get("limits", "?")))
        lines.append("- **Client**: `tests/bench/load.c` for every row (keep-alive HTTP/1.1, one request in "
                     "flight per connection, HDR-style histogram, < 1%% bucket error); payload `%s`." % BODY)
        lines.append("- **Floor**: `tests/bench/floor.c`, a trivial libmicrohttpd %s server (one epoll thread) "
                     "answering 200 `{}`. An invoke is two loopback exchanges (client → lemu, runtime → lemu), so "
                     "the *invoke floor* is 2 × its round trip; latency rows show `× floor` against it (the "
                     "1-connection floor and the C warm row alternate in %d rounds, best of each shown). For "
                     "throughput rows `× floor` is invokes/s ÷ the floor's exchanges/s at the same concurrency "
                     "(0.5 would be ideal). The 64-connection row is the best of %d rounds of %g s (each "
                     "round's rate shown); the 200,000-invoke run of the RSS row is shown below it." % (
                         m["mhd"], 1 if self.quick else COMPARE_ROUNDS, 1 if self.quick else COMPARE_ROUNDS,
                         TPUT64_ROUND_S))
        lines.append("- **Throughput floor**: `tests/bench/relay.c` (`lemu-relay`), lemu's architecture with "
                     "nothing else in it: one thread, one epoll loop, an Invoke and a Runtime API libmicrohttpd "
                     "daemon with suspended connections, the runtime's 202 corked until its next event as lemu does, "
                     "64 copies of the same C echo runtime; no validation, logs, "
                     "sandbox, limits or timers. Its 64-connection rounds alternate with lemu's, so both see the "
                     "same minutes of the machine.")
        if peer.get("ok"):
            lines.append("- **Peer**: serverless %s + serverless-offline %s (`build-release/bench-peer/`), the "
                         "same Python and Node echo handlers through its Lambda Invoke endpoint. The Python and Node "
                         "rows of lemu and of the peer run side by side in %d alternating rounds; each shows its "
                         "best round. `lemu ÷ peer` is lemu's value over the peer's: below 1 is better for "
                         "latency, above 1 for throughput."
                         % (peer.get("serverless"), peer.get("offline"), 1 if self.quick else COMPARE_ROUNDS))
        else:
            lines.append("- **Peer**: %s" % peer_why(peer))
        lines.append("- **Cold start**: Invoke → answer of the first invoke of each of %d fresh functions, one "
                     "at a time, %d ms apart (a user's cold start, not one of a burst); `lemu serve` → first "
                     "answer: spawn to the complete answer, %d times." % (COLD_SAMPLES, COLD_GAP_S * 1000,
                                                                        STARTUP_REPEATS))
        lines.append("- **CPU per invoke**: utime + stime of lemu, of its environments' processes (the peer: "
                     "its node process, its Python children) and of the client over a row, ÷ invokes; the "
                     "2-core ceiling is 2 s ÷ their sum.")
        lines.append("- Interpreters (`python3`, `node`) come from `PATH=%s` for lemu, the peer and the "
                     "reference timings alike. Whole run: %.0f s." % (BENCH_PATH, elapsed))
        lines.append("")
        lines.append("## Results")
        lines.append("")
        lines.append("| group | benchmark | lemu | × floor | peer | lemu ÷ peer | target | met |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for g, label, v, xf, pv, ratio, tgt, met in rows:
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (g, label, v, xf, pv, ratio, tgt, verdict(met)))
        lines.append("")
        lines.append("## Targets (issue 10)")
        lines.append("")
        lines.append("| target | measured | met |")
        lines.append("|---|---|---|")
        for t, v, met in targets:
            lines.append("| %s | %s | %s |" % (t, v, verdict(met)))
        if self.notes:
            lines.append("")
            lines.append("Run notes: " + "; ".join(self.notes) + ".")
        analysis = os.path.join(HERE, "analysis.md")
        if os.path.exists(analysis):
            lines.append("")
            with open(analysis) as f:
                lines.append(f.read().rstrip())
        text = "\n".join(lines) + "\n"
        os.makedirs(os.path.dirname(self.out_md), exist_ok=True)
        with open(self.out_md, "w") as f:
            f.write(text)
        return text

    def rewrite(self):
        """docs/performance.md again from the last full run's results.json, with the current
        analysis.md: for an edit of the analysis, not of a number."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        with open(os.path.join(self.bench_dir, "results.json")) as f:
            self.r = json.load(f)
        if "loadavg" not in self.r:
            log("results.json comes from a run older than --rewrite: run the bench")
            return 1
        rows, targets = self.report()
        before, after = self.r["loadavg"]
        self.write(rows, targets, self.r["machine"], before, after, self.r["elapsed_s"])
        log("rewrote %s from %s" % (os.path.relpath(self.out_md, REPO),
                                    os.path.join(os.path.relpath(self.bench_dir, REPO), "results.json")))
        return 0

    def run(self):
        t0 = time.monotonic()
        load_before = loadavg()
        m = self.machine()
        steps = [self.run_floor, self.run_lemu_main, self.run_reference, self.run_variants,
                 self.run_startup, self.run_hold, self.run_compare]
        if self.only:
            steps = [st for st in steps if st.__name__[len("run_"):] in self.only]
        try:
            for step in steps:
                try:
                    step()
                except Exception as e:  # one broken row must not lose the others
                    self.notes.append("%s failed: %s" % (step.__name__, e))
                    log("%s failed: %s" % (step.__name__, e))
        finally:
            self.stop_floor()
            shutil.rmtree(self.tmp, ignore_errors=True)
        elapsed = time.monotonic() - t0
        self.r["machine"] = m
        self.r["elapsed_s"] = elapsed
        self.r["loadavg"] = [load_before, loadavg()]
        if not self.only:
            with open(os.path.join(self.bench_dir, "results.json"), "w") as f:
                json.dump(self.r, f, indent=1)
        if "floor" not in self.r:
            if self.only:  # a partial run (--only): the raw numbers are the result
                print(json.dumps(self.r, indent=1))
                return 0
            log("the floor could not be measured: no table")
            return 1
        rows, targets = self.report()
        if self.out_md:
            self.write(rows, targets, m, load_before, loadavg(), elapsed)
        print_table(rows, targets)
        log("wrote %s (%.0f s)" % (os.path.relpath(self.out_md, REPO), elapsed) if self.out_md
            else "done (%.0f s)" % elapsed)
        return 0


# ---- formatting helpers ----

def us(v):
    if v is None:
        return "—"
    return "%.0f µs" % v if v < 10000 else "%.1f ms" % (v / 1000)


def ms(v):
    return "—" if v is None else ("%.2f ms" % v if v < 10 else "%.1f ms" % v)


def secs(v):
    return "—" if v is None else "%.2f s" % v


def mb(v):
    return "%.1f MB" % v


def rate(v):
    return "—" if v is None else "{:,.0f}".format(v)


def verdict(met):
    return "" if met is None else ("yes" if met else "**no**")


def best_by(results, key, highest=False):
    """The best of alternating rounds (lowest latency or highest rate), a whole run so its fields
    stay consistent: on a shared machine a neighbour's burst hits some rounds, and the best round of
    each side is the closest to its undisturbed value."""
    return sorted(results, key=lambda r: r[key], reverse=highest)[0]


def peer_why(peer):
    return peer.get("why") or "peer unavailable"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    import socket
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def print_table(rows, targets):
    w = max(len(r[1]) for r in rows)
    group = None
    for g, label, v, xf, pv, ratio, tgt, met in rows:
        if g != group:
            print("\n" + g)
            group = g
        extra = "  ".join(x for x in (("× floor " + xf) if xf else "", ("peer " + pv) if pv else "",
                                      ("lemu÷peer " + ratio) if ratio else "",
                                      ("target " + tgt + " " + verdict(met).replace("*", "")) if tgt else "") if x)
        print("  %-*s  %-28s %s" % (w, label, v, extra))
    print("\ntargets")
    for t, v, met in targets:
        print("  [%s] %s: %s" % ("met" if met else ("??" if met is None else "MISSED"), t, v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build-release"))
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "performance.md"))
    ap.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the harness)")
    ap.add_argument("--no-peer", action="store_true", help="skip serverless-offline")
    ap.add_argument("--lemu", help="the lemu binary to measure (default BUILD/lemu): compare builds")
    ap.add_argument("--only", help="comma-separated steps: floor,lemu_main,reference,variants,startup,hold,compare")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    ap.add_argument("--rewrite", action="store_true",
                    help="measure nothing: write docs/performance.md from the last run's results.json "
                         "with the current analysis.md")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    out = None if a.no_write or (only and "floor" not in only) else os.path.abspath(a.out)
    bench = Bench(os.path.abspath(a.build), out, a.quick, a.no_peer,
                  os.path.abspath(a.lemu) if a.lemu else None, only)
    return bench.rewrite() if a.rewrite else bench.run()


if __name__ == "__main__":
    sys.exit(main())
