#!/usr/bin/env python3
"""Soak test (issue 11): a long mixed load against one real `lemu serve`, bounded in count and
time, on 127.0.0.1 only.

    tests/soak/run                         # 1,000,000 sync invokes, 64 connections, 10 functions
    tests/soak/run --invokes 100000        # a shorter run

The load: sync invokes over N keep-alive connections (asyncio, raw HTTP/1.1) across 10 functions,
each request carrying a unique id in its payload. The mix (by weight, see MIX): successes from the
C echo sample and a python3.12 handler, function errors (the handler raises with the id in the
message), timeouts (a 1 s function asked to sleep 1.5 s), injected faults (seeded fault rules:
throttle, ServiceException, function-error) and real throttles (a function with reserved
concurrency 2, called from every connection).

What must hold at the end (exit status 1 otherwise):
  * every request got exactly one answer, and that answer is its own: an echo returns the exact
    payload bytes, a python success the same id, a function error the id in its errorMessage, a
    timeout AWS's "Task timed out" message with the answer's own request id, a throttle or an
    injected fault AWS's error document; every x-amzn-RequestId is distinct;
  * lemu's open fd count and RSS, sampled every 10 s, are flat: the second half of the run never
    goes above the first half's maximum by more than FD_SLACK fds / RSS_SLACK;
  * after SIGTERM, lemu exits 0 and no process it ever started is left.
The figures (throughput, latency percentiles, the samples) are printed and written to
--report (JSON) for docs/reliability.md.
"""
import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SAMPLE_INTERVAL_S = 10
FD_SLACK = 16
RSS_SLACK_KB = 16 * 1024
RSS_SLACK_RATIO = 0.10
MIN_STEADY_SAMPLES = 4
WARMUP_FRACTION = 0.2  # environments are still being created: not judged for flatness
STOP_TIMEOUT_S = 30
FUNCTION_LOG_MAX_LINES = 20000
INJECTED_ERROR_TYPE = "FaultInjected"  # the function-error fault's default errorType

# python3.12 handler: ok -> the event back; err -> raise with the id; slow -> sleep past Timeout.
SOAK_APP = '''import time


def handler(event, context):
    kind = event.get("k")
    if kind == "err":
        raise ValueError("soak error " + event["id"])
    if kind == "slow":
        time.sleep(1.5)
    return event
'''

# (function, kind, weight). kind: what the handler is asked to do; the answers a request of that
# function may get are decided from the function's setup below.
MIX = [
    ("echo-0", "echo", 20), ("echo-1", "echo", 20), ("echo-2", "echo", 10), ("echo-3", "echo", 10),
    ("py-0", "ok", 12), ("py-1", "ok", 12), ("py-2", "err", 6), ("py-3", "ok", 6),
    ("tiny", "echo", 4), ("slow", "slow", 0.02),
]


def config(samples, code_dir):
    def f(name, code, runtime="provided.al2023", handler="echo", timeout=3, **extra):
        d = {"FunctionName": name, "Runtime": runtime, "Handler": handler, "CodeUri": code,
             "Timeout": timeout, "MemorySize": 128}
        d.update(extra)
        return d
    echo = os.path.join(samples, "echo")
    py = dict(runtime="python3.12", handler="app.handler")
    return {
        "Account": {"ConcurrentExecutions": 1000},
        "Functions": [f("echo-0", echo), f("echo-1", echo), f("echo-2", echo), f("echo-3", echo),
                      f("py-0", code_dir, **py), f("py-1", code_dir, **py), f("py-2", code_dir, **py),
                      f("py-3", code_dir, **py), f("tiny", echo, ReservedConcurrentExecutions=2),
                      f("slow", code_dir, timeout=1, **py)],
        "Faults": [
            {"Function": "echo-2", "Fault": "service-exception", "When": {"Probability": 0.02, "Seed": 2}},
            {"Function": "echo-3", "Fault": "throttle", "When": {"Probability": 0.05, "Seed": 3}},
            {"Function": "py-3", "Fault": "function-error", "When": {"Probability": 0.05, "Seed": 4}},
        ],
    }


class Stats:
    def __init__(self):
        self.sent = 0
        self.answered = 0
        self.outcomes = {}
        self.unexpected = []
        self.request_ids = set()
        self.duplicate_rids = 0
        self.latencies = []
        self.lock = threading.Lock()

    def outcome(self, fn, what):
        key = "%s %s" % (fn, what)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def bad(self, msg):
        if len(self.unexpected) < 50:
            self.unexpected.append(msg)
        self.outcomes["UNEXPECTED"] = self.outcomes.get("UNEXPECTED", 0) + 1


def check_answer(stats, fn, kind, rid_sent, payload, status, headers, body):
    """Classify one answer; anything not allowed for this function is unexpected."""
    rid = headers.get("x-amzn-requestid", "")
    if not rid:
        return stats.bad("%s %s: no x-amzn-RequestId (status %s)" % (fn, rid_sent, status))
    if rid in stats.request_ids:
        stats.duplicate_rids += 1
        return stats.bad("%s %s: request id %s answered twice" % (fn, rid_sent, rid))
    stats.request_ids.add(rid)
    ferr = headers.get("x-amz-function-error")
    if status == 200 and not ferr:
        if kind == "echo":
            if body != payload:
                return stats.bad("%s %s: echo answered another payload: %r" % (fn, rid_sent, body[:200]))
        else:
            try:
                doc = json.loads(body)
            except ValueError:
                return stats.bad("%s %s: not JSON: %r" % (fn, rid_sent, body[:200]))
            if doc.get("id") != rid_sent:
                return stats.bad("%s %s: answered id %r" % (fn, rid_sent, doc.get("id")))
        return stats.outcome(fn, "200 ok")
    if status == 200 and ferr:
        try:
            doc = json.loads(body)
        except ValueError:
            return stats.bad("%s %s: error body not JSON: %r" % (fn, rid_sent, body[:200]))
        msg = doc.get("errorMessage", "")
        if kind == "err" and doc.get("errorType") == "ValueError" and rid_sent in msg:
            return stats.outcome(fn, "function error")
        if kind == "slow" and rid in msg and "Task timed out" in msg:
            return stats.outcome(fn, "timeout")
        if fn == "py-3" and doc.get("errorType") == INJECTED_ERROR_TYPE:  # the function-error rule
            return stats.outcome(fn, "injected function error")
        return stats.bad("%s %s: unexpected function error %s: %r" % (fn, rid_sent, ferr, body[:300]))
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {}
    etype = headers.get("x-amzn-errortype", "")
    if status == 429 and fn in ("tiny", "echo-3") and etype.startswith("TooManyRequestsException"):
        return stats.outcome(fn, "429 throttled" + (" (injected)" if fn == "echo-3" else ""))
    if status == 500 and fn == "echo-2" and etype.startswith("ServiceException"):
        return stats.outcome(fn, "500 injected ServiceException")
    return stats.bad("%s %s: unexpected %s %s %r" % (fn, rid_sent, status, etype, body[:300]))


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def connection(worker, port, stats, budget, deadline, rng):
    names = [m[0] for m in MIX]
    kinds = {m[0]: m[1] for m in MIX}
    weights = [m[2] for m in MIX]
    reader = writer = None
    seq = 0
    while time.monotonic() < deadline:
        with stats.lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            stats.sent += 1
        fn = rng.choices(names, weights)[0]
        kind = kinds[fn]
        seq += 1
        rid_sent = "w%d-%d" % (worker, seq)
        payload = json.dumps({"id": rid_sent, "k": kind, "pad": "x" * rng.randint(0, 200)},
                             separators=(",", ":")).encode()
        req = ("POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (fn, port, len(payload))).encode()
        t0 = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(req + payload)
            status, headers, body = await asyncio.wait_for(read_response(reader), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError) as e:
            stats.bad("%s %s: no answer (%r)" % (fn, rid_sent, e))
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        stats.answered += 1
        stats.latencies.append(time.monotonic() - t0)
        check_answer(stats, fn, kind, rid_sent, payload, status, headers, body)
        if headers.get("connection", "").lower() == "close":
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return len(os.listdir("/proc/%d/fd" % pid)), rss


def descendants(pid):
    table = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    data = f.read()
            except OSError:
                continue
            rest = data[data.rfind(")") + 2:].split()
            table[int(e)] = (int(rest[1]), rest[0])
    out, frontier = set(), {pid}
    while frontier:
        kids = {p for p, (pp, _) in table.items() if pp in frontier and p not in out}
        out |= kids
        frontier = kids
    return out


def alive(pids):
    out = set()
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


def judge_flat(samples, elapsed):
    """(fd_flat, rss_flat, fds_per_env) over the steady samples: those after the warm-up (the
    first WARMUP_FRACTION of the run, while environments are still being created).

    lemu keeps a few fds per live environment (its Runtime API socket and connection, the log
    pipe), and the pool grows slowly to the peak concurrency each function ever saw (lemu does not
    reclaim idle environments), so raw fd counts rise with the environment count. What must stay
    flat is the rest: fds - fds_at_start - per_env * environments, per_env measured at the first
    steady sample. Flat = the second half of the steady samples never exceeds the first half's
    maximum by more than FD_SLACK (RSS: RSS_SLACK_RATIO + RSS_SLACK_KB). Fewer than
    MIN_STEADY_SAMPLES is too short a run to judge (None, not a failure)."""
    steady = [x for x in samples[2:] if x["t"] >= WARMUP_FRACTION * elapsed]
    if len(steady) < MIN_STEADY_SAMPLES or not steady[0]["processes"]:
        return None, None, None
    base = samples[0]["fds"]
    per_env = (steady[0]["fds"] - base) / steady[0]["processes"]
    overhead = [x["fds"] - base - per_env * x["processes"] for x in steady]
    half = len(steady) // 2
    fd_flat = max(overhead[half:]) <= max(overhead[:half]) + FD_SLACK
    rss_first = max(x["rss_kb"] for x in steady[:half])
    rss_flat = max(x["rss_kb"] for x in steady[half:]) <= rss_first * (1 + RSS_SLACK_RATIO) + RSS_SLACK_KB
    return fd_flat, rss_flat, round(per_env, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--invokes", type=int, default=1000000)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--max-seconds", type=float, default=3 * 3600, help="hard bound on the load phase")
    ap.add_argument("--lemu", default=os.environ.get("LEMU_BIN") or os.path.join(ROOT, "build", "lemu"))
    ap.add_argument("--samples", default=os.environ.get("LEMU_SAMPLES_DIR") or os.path.join(ROOT, "build", "sample-functions"))
    ap.add_argument("--report", default=None, help="write the figures as JSON here")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--lemu-arg", action="append", default=[], help="an extra argument for lemu serve")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="lemu-soak-")
    code = os.path.join(tmp, "soak-py")
    os.makedirs(code)
    with open(os.path.join(code, "app.py"), "w") as f:
        f.write(SOAK_APP)
    cfg_path = os.path.join(tmp, "lemu.json")
    with open(cfg_path, "w") as f:
        json.dump(config(args.samples, code), f)
    log = open(os.path.join(tmp, "lemu.log"), "wb")
    proc = subprocess.Popen([args.lemu, "serve", "-c", cfg_path, "--listen", "127.0.0.1:0",
                             "--state-dir", os.path.join(tmp, "state")] + args.lemu_arg,
                            stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                            # its control API is called from loopback without a token
                            env={k: v for k, v in os.environ.items() if k != "LEMU_CONTROL_TOKEN"})
    url = proc.stdout.readline().decode().strip()
    if not url.startswith("http://127.0.0.1:"):
        sys.exit("lemu did not start: %r (log %s)" % (url, log.name))
    # Function logs go to stdout: drain them so lemu never blocks on a full pipe, keeping (in
    # functions.log) only what is not a START/END/REPORT line, up to a bound.
    def drain():
        kept = 0
        with open(os.path.join(tmp, "functions.log"), "wb") as out:
            for line in iter(proc.stdout.readline, b""):
                text = line.split(b"] ", 1)[-1]
                if kept < FUNCTION_LOG_MAX_LINES and not text.startswith((b"START ", b"END ", b"REPORT ")):
                    out.write(line)
                    kept += 1
    threading.Thread(target=drain, daemon=True).start()
    port = int(url.rsplit(":", 1)[1])
    print("soak: lemu %s at %s, %d invokes over %d connections (work dir %s)"
          % (args.lemu, url, args.invokes, args.connections, tmp), flush=True)

    stats = Stats()
    samples = []
    seen_procs = set()
    done = threading.Event()
    t_start = time.monotonic()

    def sampler():
        while not done.is_set():
            fds, rss = proc_sample(proc.pid)
            kids = descendants(proc.pid)
            seen_procs.update(kids)
            samples.append({"t": round(time.monotonic() - t_start, 1), "fds": fds, "rss_kb": rss,
                            "processes": len(kids), "answered": stats.answered})
            print("soak: t=%5.0fs answered=%d fds=%d rss=%d KB processes=%d unexpected=%d"
                  % (samples[-1]["t"], stats.answered, fds, rss, len(kids), stats.outcomes.get("UNEXPECTED", 0)),
                  flush=True)
            done.wait(SAMPLE_INTERVAL_S)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()

    budget = [args.invokes]
    deadline = time.monotonic() + args.max_seconds

    async def run_all():
        await asyncio.gather(*[connection(i, port, stats, budget, deadline, random.Random(args.seed * 1000 + i))
                               for i in range(args.connections)])
    # However the load phase ends (SIGTERM from a time limit, ^C), lemu does not stay behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: terminated"))
    try:
        asyncio.run(run_all())
    except BaseException:
        done.set()
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    elapsed = time.monotonic() - t_start
    done.set()
    th.join()
    fds, rss = proc_sample(proc.pid)
    samples.append({"t": round(elapsed, 1), "fds": fds, "rss_kb": rss, "processes": len(descendants(proc.pid)),
                    "answered": stats.answered})
    seen_procs.update(descendants(proc.pid))

    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = "hung"
    time.sleep(0.5)
    left = alive(seen_procs)

    lat = sorted(stats.latencies)
    pct = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)) if lat else (lambda p: None)
    fd_flat, rss_flat, fds_per_env = judge_flat(samples, elapsed)
    report = {
        "invokes": stats.sent, "answered": stats.answered, "connections": args.connections,
        "seconds": round(elapsed, 1), "invokes_per_s": round(stats.answered / elapsed, 1),
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999), "max": pct(1.0)},
        "outcomes": dict(sorted(stats.outcomes.items())), "unexpected": stats.unexpected,
        "distinct_request_ids": len(stats.request_ids), "samples": samples,
        "fd_flat": fd_flat, "rss_flat": rss_flat, "lemu_fds_per_environment": fds_per_env, "lemu_exit": rc, "processes_left": sorted(left),
        "processes_started": len(seen_procs),
    }
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    ok = (stats.sent == stats.answered == len(stats.request_ids) and not stats.unexpected
          and fd_flat is not False and rss_flat is not False and rc == 0 and not left)
    print("soak: %s" % ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
