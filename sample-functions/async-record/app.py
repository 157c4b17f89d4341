"""async-record: writes down every invocation it gets, then succeeds or fails on request.

Made for watching asynchronous invocation (docs/async.md): each call appends one JSON line to the
file named by the environment variable RECORD_FILE (when set) *before* doing anything else, so the
line exists even if the call then fails, times out or lemu is killed:

    {"id": <event["id"] or null>, "requestId": <context.aws_request_id>, "t": <epoch seconds>,
     "event": <the event>}

Then, driven by the event (or the environment for every event):
    GATE_FILE=PATH             wait (up to 60 s) until that file exists: holds every call at
                               the door until a test opens it
    "sleep": N   / SLEEP_S=N   sleep N seconds
    "fail": MSG  / FAIL=MSG    raise an exception with that message (a function error)
otherwise it returns {"ok": true, "id": ..., "requestId": ...}.
"""
import json
import os
import time


def handler(event, context):
    t = time.time()
    ev = event if isinstance(event, dict) else {}
    path = os.environ.get("RECORD_FILE")
    if path:
        line = json.dumps({"id": ev.get("id"), "requestId": context.aws_request_id, "t": t,
                           "event": event}) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)
    print("async-record", context.aws_request_id, ev.get("id"))
    gate = os.environ.get("GATE_FILE")
    if gate:
        deadline = time.time() + 60
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.01)
    pause = ev.get("sleep", os.environ.get("SLEEP_S"))
    if pause:
        time.sleep(float(pause))
    fail = ev.get("fail", os.environ.get("FAIL"))
    if fail:
        raise RuntimeError(fail if isinstance(fail, str) else "async-record failed on purpose")
    return {"ok": True, "id": ev.get("id"), "requestId": context.aws_request_id}
