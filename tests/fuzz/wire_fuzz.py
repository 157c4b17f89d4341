#!/usr/bin/env python3
"""Wire fuzzer (issue 11): random and mutated HTTP requests against a running lemu, bounded in
time, loopback only. The Invoke path, the management API, the control API and the Runtime API all
sit behind libmicrohttpd, so instead of an in-process libFuzzer target this drives the real server:

    tests/fuzz/wire_fuzz.py --seconds 60            # starts its own lemu (build/lemu)
    tests/fuzz/wire_fuzz.py --url http://127.0.0.1:9001 --seconds 60

Each request is built from a seed request (a valid Invoke, CreateFunction, fault
rule, GET, a Runtime API call on a live environment's port...) with random mutations: the method,
path, query, header names and values, Content-Length, Transfer-Encoding, body bytes, truncation,
early close, pipelined garbage. Every CHECK_EVERY requests (and at the end) lemu must still be
running and answer a healthy Invoke of an echo function the fuzzer does not target, byte for byte. Exit 1 if it does not; the
last requests sent are written to --crash-dir to replay.
"""
import argparse
import base64
import concurrent.futures
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHECK_EVERY = 200
KEEP_LAST = 50
HEALTH_FUNCTION = "wire-health"
PARALLEL = 16  # connections at once
IO_TIMEOUT_S = 1.0

SEEDS = [
    ("POST", "/2015-03-31/functions/echo/invocations", {"Content-Type": "application/json"}, b'{"k": [1, 2, {"x": null}]}'),
    ("POST", "/2015-03-31/functions/echo/invocations", {"X-Amz-Invocation-Type": "Event"}, b'{"a": 1}'),
    ("POST", "/2015-03-31/functions/echo/invocations", {"X-Amz-Invocation-Type": "DryRun"}, b""),
    ("POST", "/2014-11-13/functions/echo/invoke-async/", {}, b'{"legacy": true}'),
    ("POST", "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST/invocations?Qualifier=$LATEST",
     {"X-Amz-Log-Type": "Tail", "X-Amz-Client-Context": base64.b64encode(b'{"custom": {"a": 1}}').decode()}, b"{}"),
    ("POST", "/2015-03-31/functions", {"Content-Type": "application/json"},
     json.dumps({"FunctionName": "wf", "Runtime": "python3.12", "Role": "arn:aws:iam::123456789012:role/r",
                 "Handler": "app.handler", "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}).encode()),
    ("GET", "/2015-03-31/functions/", {}, b""),
    ("GET", "/2015-03-31/functions/echo", {}, b""),
    ("PUT", "/2017-10-31/functions/echo/concurrency", {}, b'{"ReservedConcurrentExecutions": 5}'),
    ("PUT", "/2019-09-25/functions/echo/event-invoke-config", {}, b'{"MaximumRetryAttempts": 1}'),
    ("POST", "/lemu/v1/faults", {}, b'{"Function": "nothing-here", "Fault": "throttle", "When": {"Nth": [2]}}'),
    ("GET", "/lemu/v1/faults", {}, b""),
    ("GET", "/lemu/v1/queue", {}, b""),
    ("POST", "/lemu/v1/faults/fis", {}, b'{"actions": {"a": {"actionId": "aws:lambda:invocation-add-delay"}}}'),
]
HEADER_NAMES = ["Content-Length", "Transfer-Encoding", "X-Amz-Invocation-Type", "X-Amz-Log-Type",
                "X-Amz-Client-Context", "Authorization", "Host", "Connection", "Expect", "Content-Type",
                "Lambda-Runtime-Function-Error-Type", "X-Amz-Date"]
JUNK = [b"", b"\x00", b"\xff" * 8, b"%", b"%00", b"..", b"/", b"{" * 50, b"\r\n", b" ", b"$LATEST",
        b"A" * 5000, "é".encode(), b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"]


def mutate_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randint(0, len(data))
        if op == 0 and data:
            del data[pos:pos + rng.randint(1, 8)]
        elif op == 1:
            data[pos:pos] = rng.choice(JUNK)
        elif op == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 3:
            data[pos:pos] = data[:rng.randint(0, 64)]
        else:
            data = data[:pos]
    return bytes(data)


def build(rng, port):
    method, path, headers, body = rng.choice(SEEDS)
    headers = dict(headers)
    headers["Host"] = "127.0.0.1:%d" % port
    headers["Connection"] = "close"  # one request per connection (mutations may change it)
    if rng.random() < 0.3:
        method = rng.choice(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "POST", "X" * 40, ""])
    if rng.random() < 0.4:
        path = mutate_bytes(rng, path.encode()).decode("latin-1")
    if rng.random() < 0.4:
        body = mutate_bytes(rng, body)
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 5)):
            headers[rng.choice(HEADER_NAMES)] = mutate_bytes(rng, rng.choice(JUNK) + b"1").decode("latin-1")
    cl = str(len(body))
    if rng.random() < 0.1:
        cl = rng.choice(["-1", "0", "99999999999999999999", str(len(body) + 10), "abc", ""])
    headers.setdefault("Content-Length", cl)
    chunked = headers.get("Transfer-Encoding", "").lower() == "chunked" or rng.random() < 0.05
    if chunked:
        headers.pop("Content-Length", None)
        headers["Transfer-Encoding"] = "chunked"
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if rng.random() < 0.7 else mutate_bytes(rng, body)
    head = "%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
    raw = head.encode("latin-1") + body
    if rng.random() < 0.05:
        raw = mutate_bytes(rng, raw)
    return raw


def send(port, raw, rng):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    try:
        if rng.random() < 0.05:
            s.sendall(raw[:rng.randint(0, len(raw))])  # then close mid-request
            return
        s.sendall(raw)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    except OSError:
        pass
    finally:
        s.close()


def raw_request(port, method, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                  % (method.encode(), path.encode()))
        while s.recv(65536):
            pass
    finally:
        s.close()


def healthy(port, function):
    # The fuzzer's own valid requests may install fault rules (a FIS import adds latency to every
    # function) or delete the functions it targets: the health check uses a function no seed names,
    # after clearing the fault rules, as a user would.
    raw_request(port, "DELETE", "/lemu/v1/faults")
    payload = json.dumps({"healthy": time.time()}).encode()
    req = (b"POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Length: %d\r\n\r\n" % (function.encode(), len(payload))) + payload
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return data.startswith(b"HTTP/1.1 200") and data.endswith(payload)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--url", help="a running lemu (default: start one, serving the echo sample as "
                    "echo and as %s)" % HEALTH_FUNCTION)
    ap.add_argument("--health-function", default=HEALTH_FUNCTION,
                    help="an echo function of that lemu the fuzzer does not target")
    ap.add_argument("--samples", default=os.environ.get("LEMU_SAMPLES_DIR") or
                    os.path.join(ROOT, "build", "sample-functions"))
    ap.add_argument("--lemu", default=os.environ.get("LEMU_BIN") or os.path.join(ROOT, "build", "lemu"))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--crash-dir", default=os.path.join(HERE, "wire", "crashes"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    proc = None
    if args.url:
        port = int(args.url.rsplit(":", 1)[1].strip("/"))
    else:
        import tempfile
        state = tempfile.mkdtemp(prefix="lemu-wire-")
        echo = os.path.join(args.samples, "echo")
        cfg = os.path.join(state, "lemu.json")
        with open(cfg, "w") as f:
            json.dump({"Functions": [{"FunctionName": name, "Runtime": "provided.al2023", "Handler": "echo",
                                      "CodeUri": echo} for name in ("echo", args.health_function)]}, f)
        proc = subprocess.Popen([args.lemu, "serve", "-c", cfg, "--listen", "127.0.0.1:0", "--state-dir",
                                 os.path.join(state, "state"), "--pending-seconds", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True,
                                # the seeds call the control API from loopback without a token
                                env={k: v for k, v in os.environ.items() if k != "LEMU_CONTROL_TOKEN"})
        url = proc.stdout.readline().decode().strip()
        port = int(url.rsplit(":", 1)[1])
        import threading
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=lambda st=stream: [None for _ in iter(lambda: st.read(65536), b"")],
                             daemon=True).start()
    print("wire_fuzz: seed %d, port %d, %ss" % (args.seed, port, args.seconds), flush=True)
    last = []
    sent = 0
    ok = True
    deadline = time.monotonic() + args.seconds
    try:
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            while time.monotonic() < deadline:
                batch = [build(rng, port) for _ in range(CHECK_EVERY)]
                last = batch[-KEEP_LAST:]
                seeds = [rng.randrange(1 << 30) for _ in batch]
                list(pool.map(lambda a: send(port, a[0], random.Random(a[1])), zip(batch, seeds)))
                sent += len(batch)
                if (proc is not None and proc.poll() is not None) or not healthy(port, args.health_function):
                    ok = False
                    break
        ok = ok and (proc is None or proc.poll() is None) and healthy(port, args.health_function)
    except OSError as e:
        print("wire_fuzz: lemu stopped answering: %r" % e)
        ok = False
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rc = "hung"
            if rc != 0:
                print("wire_fuzz: lemu exited with %s after SIGTERM" % rc)
                ok = False
    if not ok:
        os.makedirs(args.crash_dir, exist_ok=True)
        for i, raw in enumerate(last):
            with open(os.path.join(args.crash_dir, "seed%d-%02d.http" % (args.seed, i)), "wb") as f:
                f.write(raw)
        print("wire_fuzz: FAIL after %d requests; the last %d are in %s" % (sent, len(last), args.crash_dir))
        sys.exit(1)
    print("wire_fuzz: %d requests, lemu alive and answering: PASS" % sent)


if __name__ == "__main__":
    main()
