"""Asynchronous invocation (issue 8): the durable event queue, the retry schedule under
--time-scale, MaximumRetryAttempts / MaximumEventAgeInSeconds, OnSuccess / OnFailure destinations
(the local sink for SQS/SNS/EventBridge ARNs, a real invoke for Lambda ARNs), the dead-letter
queue, reserved concurrency 0, the 202 and the async payload limit, the
Put/Get/Update/Delete/List FunctionEventInvokeConfig API, GET /lemu/v1/queue and crash safety
(kill -9 with 1,000 events queued and in flight).

Expected values are AWS's (../shared/lambda-reference.md §1.2, §1.3, §5, §6), never lemu's own
output. The handler is sample-functions/async-record (python3.12): it appends one JSON line per
invocation to $RECORD_FILE before doing anything else (event id, request id, start time), then
sleeps / fails when the event or the environment asks it to.
"""
import concurrent.futures
import datetime
import http.client
import io
import json
import os
import re
import signal
import threading
import time
import urllib.parse
import zipfile

import botocore.exceptions
import pytest

from conftest import LemuServer, sample
from lemu_testlib import (ACCOUNT, REGION, UUID_RE, arn, aws_cli_major, descendants, fn, padded_json,
                          proc_table, request_id, run_cli)

SCALE = "0.001"                      # 1 min -> 60 ms, 2 min -> 120 ms, 6 h -> 21.6 s
SQS_FAIL = "arn:aws:sqs:%s:%s:async-failures" % (REGION, ACCOUNT)
SQS_OK = "arn:aws:sqs:%s:%s:async-successes" % (REGION, ACCOUNT)
SQS_DLQ = "arn:aws:sqs:%s:%s:async-dlq" % (REGION, ACCOUNT)
SNS_FAIL = "arn:aws:sns:%s:%s:async-failure-topic" % (REGION, ACCOUNT)
ISO_MS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ASYNC_TOO_LARGE = "Request must be smaller than 1048576 bytes for the InvokeFunction operation"
RETRY_3 = ("1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
           "Member must have value less than or equal to 2")
RETRY_NEG = ("1 validation error detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: "
             "Member must have value greater than or equal to 0")
AGE_59 = ("1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: "
          "Member must have value greater than or equal to 60")
AGE_21601 = ("1 validation error detected: Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy "
             "constraint: Member must have value less than or equal to 21600")
NO_CONFIG = "The function %s:$LATEST doesn't have an EventInvokeConfig"
NOT_FOUND = "Function not found: %s"
RECORD_KEYS = ["version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"]


# ---------------------------------------------------------------------------------------
# helpers

def rec_fn(name, record_file, env=None, timeout=10, **extra):
    """A function running sample-functions/async-record that writes to record_file."""
    variables = {"RECORD_FILE": str(record_file)}
    variables.update(env or {})
    return fn(name, sample("async-record"), runtime="python3.12", handler="app.handler", timeout=timeout,
              env=variables, **extra)


def sh_fn(name, record_file, env=None, **extra):
    """The same recorder as a bash custom runtime (sample-functions/async-record-sh), whose
    environments start in milliseconds: for the tests that start dozens of them."""
    variables = {"RECORD_FILE": str(record_file)}
    variables.update(env or {})
    return fn(name, sample("async-record-sh"), timeout=60, env=variables, **extra)


def on_failure(dest, **kw):
    return dict(kw, DestinationConfig={"OnFailure": {"Destination": dest}})


def start(make_lemu, tmp_path, functions, scale=SCALE, state="state", lemu=None):
    config = {"Functions": functions}
    if lemu:
        config["Lemu"] = lemu
    args = ["--state-dir", str(tmp_path / state)]
    if scale:
        args += ["--time-scale", scale]
    return make_lemu(config=config, args=args)


def control(server, path, timeout=30):
    """GET a /lemu/v1/... control endpoint; returns its JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body)
        assert r.getheader("Content-Type", "").startswith("application/json"), r.getheaders()
        return json.loads(body)
    finally:
        conn.close()


def destinations(server, dest):
    return control(server, "/lemu/v1/destinations?arn=" + urllib.parse.quote(dest, safe=""))["Records"]


def queue(server):
    return control(server, "/lemu/v1/queue")["Events"]


def wait_until(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def wait_records(server, dest, n, timeout=20):
    return wait_until(lambda: (lambda r: r if len(r) >= n else None)(destinations(server, dest)),
                      timeout, "%d record(s) at %s" % (n, dest))


def read_lines(path):
    """The JSON lines of a file (a torn last line, from a process killed mid-write, is skipped)."""
    out = []
    if not os.path.exists(str(path)):
        return out
    with open(str(path)) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def wait_lines(path, n, timeout=20):
    return wait_until(lambda: (lambda r: r if len(r) >= n else None)(read_lines(path)),
                      timeout, "%d line(s) in %s" % (n, path))


def invoke_event(client, name, payload, **kw):
    """InvocationType Event: AWS answers 202 with an empty body and the request id."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    resp = client.invoke(FunctionName=name, InvocationType="Event", Payload=body, **kw)
    assert resp["StatusCode"] == 202, resp
    assert resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    return request_id(resp)


def epoch_of(iso):
    assert ISO_MS_RE.match(iso), "not ISO-8601 UTC with milliseconds and Z: %r" % iso
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def check_sink_entry(entry, dest, kind="sqs"):
    """One entry of GET /lemu/v1/destinations: the record plus where and when it went."""
    assert entry["Destination"] == dest
    assert entry["Type"] == kind
    assert abs(epoch_of(entry["Timestamp"]) - time.time()) < 60
    return entry


def check_record(rec, rid, name, condition, count, payload, response=True, function_error=None):
    """AWS's invocation record (reference §5); returns its responsePayload (or None)."""
    keys = RECORD_KEYS if response else RECORD_KEYS[:4]
    assert list(rec) == keys, "record members (in AWS's order): %r" % list(rec)
    assert rec["version"] == "1.0"
    assert abs(epoch_of(rec["timestamp"]) - time.time()) < 60
    assert rec["requestContext"] == {"requestId": rid, "functionArn": arn(name, "$LATEST"),
                                     "condition": condition, "approximateInvokeCount": count}
    assert rec["requestPayload"] == payload
    if not response:
        return None
    ctx = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        ctx["functionError"] = function_error
    assert rec["responseContext"] == ctx
    return rec["responsePayload"]


def check_python_error(payload, message, rid, error_type="RuntimeError"):
    """The Python runtime's error body (reference §2.1) as the record's responsePayload."""
    assert payload["errorMessage"] == message
    assert payload["errorType"] == error_type
    assert payload["requestId"] == rid
    assert isinstance(payload["stackTrace"], list)


def client_error(excinfo):
    e = excinfo.value
    return (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"],
            e.response["Error"]["Message"])


# ---------------------------------------------------------------------------------------
# 202, the CLI, the payload limit

def test_event_invoke_answers_202_and_runs_with_that_request_id(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("rec", rec)])
    resp = s.client().invoke(FunctionName="rec", InvocationType="Event", Payload=b'{"id":"boto3"}')
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("content-length") == "0", headers
    assert "x-amz-function-error" not in headers
    rid = request_id(resp)
    [line] = wait_lines(rec, 1)
    # The 202's id is the async request id: the function sees it as its aws_request_id.
    assert line["requestId"] == rid
    assert line["event"] == {"id": "boto3"}


def test_aws_cli_event_invoke_prints_status_202(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("rec", rec)])
    out = tmp_path / "out.json"
    args = ["lambda", "invoke", "--function-name", "rec", "--invocation-type", "Event",
            "--payload", '{"id":"cli"}', str(out)]
    if aws_cli_major() >= 2:
        args += ["--cli-binary-format", "raw-in-base64-out"]
    r = run_cli(s, args, tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"StatusCode": 202}
    assert out.read_bytes() == b""
    [line] = wait_lines(rec, 1)
    assert line["event"] == {"id": "cli"}
    assert UUID_RE.match(line["requestId"])


def http_invoke(port, name, body, invocation_type):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/2015-03-31/functions/%s/invocations" % name, body=body,
                     headers={"X-Amz-Invocation-Type": invocation_type, "Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_async_payload_limit_is_1_mb(make_lemu, tmp_path):
    s = start(make_lemu, tmp_path, [fn("echo", sample("echo"))])
    c = s.client()
    # Exactly 1 MB is accepted.
    rid = invoke_event(c, "echo", padded_json(1048576))
    # One byte more: 413 with AWS's bytes (reference §1.3), nothing queued.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.invoke(FunctionName="echo", InvocationType="Event", Payload=padded_json(1048577))
    assert client_error(ei) == (413, "RequestEntityTooLargeException", ASYNC_TOO_LARGE)
    status, headers, body = http_invoke(s.port, "echo", padded_json(1048577), "Event")
    assert status == 413
    assert headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert UUID_RE.match(headers["x-amzn-requestid"])
    assert json.loads(body) == {"Message": ASYNC_TOO_LARGE}
    # The same body is fine synchronously (the 6 MB limit).
    status, _, body = http_invoke(s.port, "echo", padded_json(1048577), "RequestResponse")
    assert status == 200 and body == padded_json(1048577)
    wait_until(lambda: queue(s) == [], 10, "the 1 MB event to be delivered")
    assert rid


# ---------------------------------------------------------------------------------------
# InvokeAsync: the deprecated API that boto3 (invoke_async) and the CLI (invoke-async) still have

LEGACY_TOO_LARGE = "Request must be smaller than 262144 bytes for the InvokeAsync operation"


def test_invoke_async_queues_an_event_and_answers_202(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("rec", rec)])
    c = s.client()
    resp = c.invoke_async(FunctionName="rec", InvokeArgs=b'{"id": "legacy"}')
    assert resp["Status"] == 202
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    rid = request_id(resp)
    # a full ARN names the function too
    c.invoke_async(FunctionName=arn("rec"), InvokeArgs=io.BytesIO(b'{"id": "arn"}'))
    lines = wait_lines(rec, 2)
    assert sorted(line["event"]["id"] for line in lines) == ["arn", "legacy"]
    assert rid in [line["requestId"] for line in lines]  # the 202's id is the invocation's id
    # the same errors as Invoke, in AWS's format
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.invoke_async(FunctionName="nope", InvokeArgs=b"{}")
    assert client_error(ei) == (404, "ResourceNotFoundException", NOT_FOUND % arn("nope"))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.invoke_async(FunctionName="rec", InvokeArgs=b"{not json")
    assert client_error(ei)[:2] == (400, "InvalidRequestContentException")
    # 256 KB is its limit (its API page), where Invoke's Event takes 1 MB
    c.invoke_async(FunctionName="rec", InvokeArgs=padded_json(262144))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.invoke_async(FunctionName="rec", InvokeArgs=padded_json(262145))
    assert client_error(ei) == (413, "RequestEntityTooLargeException", LEGACY_TOO_LARGE)
    assert len(wait_lines(rec, 3)) == 3
    time.sleep(0.3)
    assert len(read_lines(rec)) == 3  # nothing queued for the refused ones


def test_aws_cli_invoke_async_prints_status_202(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("rec", rec)])
    args_file = tmp_path / "args.json"
    args_file.write_text('{"id": "cli-legacy"}')
    r = run_cli(s, ["lambda", "invoke-async", "--function-name", "rec", "--invoke-args", str(args_file)],
                tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"Status": 202}
    [line] = wait_lines(rec, 1)
    assert line["event"] == {"id": "cli-legacy"}


# ---------------------------------------------------------------------------------------
# retries, destinations, DLQ

def test_failing_function_attempted_three_times_then_on_failure_record(make_lemu, tmp_path):
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("flaky", rec, env={"FAIL": "order 42 could not be processed"},
               EventInvokeConfig=on_failure(SQS_FAIL))])
    payload = {"id": "order-42", "ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}
    rid = invoke_event(s.client(), "flaky", payload)
    [entry] = wait_records(s, SQS_FAIL, 1)
    attempts = read_lines(rec)
    assert len(attempts) == 3, attempts
    assert [a["requestId"] for a in attempts] == [rid] * 3   # retries keep the request id
    assert all(a["event"] == payload for a in attempts)
    # AWS waits 1 min before the 2nd attempt and 2 min before the 3rd; scaled by 0.001.
    gap1 = attempts[1]["t"] - attempts[0]["t"]
    gap2 = attempts[2]["t"] - attempts[1]["t"]
    assert 0.059 <= gap1 <= 1.0, "gap before attempt 2: %.3f s (expected about 0.060)" % gap1
    assert 0.119 <= gap2 <= 1.5, "gap before attempt 3: %.3f s (expected about 0.120)" % gap2
    check_sink_entry(entry, SQS_FAIL)
    rec_doc = entry["Record"]
    err = check_record(rec_doc, rid, "flaky", "RetriesExhausted", 3, payload, function_error="Unhandled")
    check_python_error(err, "order 42 could not be processed", rid)
    assert epoch_of(rec_doc["timestamp"]) >= attempts[2]["t"] - 0.01
    # The record is also a JSON line in the state directory's sink file.
    sink_file = [json.loads(line) for line in (tmp_path / "state" / "destinations.jsonl").read_text().splitlines()]
    assert sink_file == [entry]
    # Exactly 3: nothing more happens, and the queue is empty.
    time.sleep(0.5)
    assert len(read_lines(rec)) == 3
    assert len(destinations(s, SQS_FAIL)) == 1
    assert queue(s) == []


def test_maximum_retry_attempts_0_means_one_attempt(make_lemu, tmp_path):
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("once", rec, env={"FAIL": "no second chance"})])
    c = s.client()
    c.put_function_event_invoke_config(FunctionName="once", MaximumRetryAttempts=0,
                                       DestinationConfig={"OnFailure": {"Destination": SNS_FAIL}})
    rid = invoke_event(c, "once", {"id": "only-once"})
    [entry] = wait_records(s, SNS_FAIL, 1)
    check_sink_entry(entry, SNS_FAIL, kind="sns")
    err = check_record(entry["Record"], rid, "once", "RetriesExhausted", 1, {"id": "only-once"},
                       function_error="Unhandled")
    check_python_error(err, "no second chance", rid)
    time.sleep(0.5)  # several times the scaled 1-minute retry delay
    assert [a["requestId"] for a in read_lines(rec)] == [rid]


def test_timeout_is_a_function_error_and_retried(make_lemu, tmp_path):
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("slowpoke", rec, timeout=1, EventInvokeConfig=on_failure(SQS_FAIL, MaximumRetryAttempts=1))])
    rid = invoke_event(s.client(), "slowpoke", {"id": "t", "sleep": 5})
    [entry] = wait_records(s, SQS_FAIL, 1, timeout=30)
    assert [a["requestId"] for a in read_lines(rec)] == [rid, rid]
    err = check_record(entry["Record"], rid, "slowpoke", "RetriesExhausted", 2, {"id": "t", "sleep": 5},
                       function_error="Unhandled")
    assert err["errorType"] == "Sandbox.Timedout"
    assert err["errorMessage"].endswith("Task timed out after 1.00 seconds"), err


def test_event_age_exceeded_while_throttled(make_lemu, tmp_path):
    """ReservedConcurrentExecutions 1 held busy by a sync invoke: the async event is throttled and
    backed off until its age (60 s, scaled to 60 ms) runs out: EventAgeExceeded, never run."""
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("busy", rec, ReservedConcurrentExecutions=1,
               EventInvokeConfig=on_failure(SQS_FAIL, MaximumEventAgeInSeconds=60))])
    c = s.client()
    holder = {}
    t = threading.Thread(target=lambda: holder.update(
        r=c.invoke(FunctionName="busy", Payload=b'{"id":"holder","sleep":3}')), daemon=True)
    t.start()
    wait_until(lambda: any(a["id"] == "holder" for a in read_lines(rec)), 15, "the holder to run")
    t0 = time.time()
    rid = invoke_event(c, "busy", {"id": "late"})
    [entry] = wait_records(s, SQS_FAIL, 1, timeout=2.5)
    elapsed = time.time() - t0
    assert t.is_alive(), "the record must come while the function is still busy"
    assert elapsed >= 0.06, "age 60 s scaled is 60 ms; the record came after %.3f s" % elapsed
    # No attempt was made: no responseContext / responsePayload, count 0.
    check_record(entry["Record"], rid, "busy", "EventAgeExceeded", 0, {"id": "late"}, response=False)
    assert epoch_of(entry["Record"]["timestamp"]) - t0 >= 0.059
    t.join(10)
    assert holder["r"]["StatusCode"] == 200 and "FunctionError" not in holder["r"]
    time.sleep(0.3)
    assert [a["id"] for a in read_lines(rec)] == ["holder"]
    assert queue(s) == []


def test_event_age_exceeded_between_retries(make_lemu, tmp_path):
    """A failing function whose age limit (60 ms scaled) runs out before the retry 1 min (60 ms)
    later: EventAgeExceeded after one attempt, with that attempt's response."""
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("aging", rec, env={"FAIL": "too old to retry"},
               EventInvokeConfig=on_failure(SQS_FAIL, MaximumEventAgeInSeconds=60))])
    rid = invoke_event(s.client(), "aging", {"id": "a"})
    [entry] = wait_records(s, SQS_FAIL, 1)
    err = check_record(entry["Record"], rid, "aging", "EventAgeExceeded", 1, {"id": "a"},
                       function_error="Unhandled")
    check_python_error(err, "too old to retry", rid)
    time.sleep(0.3)
    assert len(read_lines(rec)) == 1


def test_success_goes_to_on_success_with_the_response(make_lemu, tmp_path):
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("fine", rec, EventInvokeConfig={"DestinationConfig": {
            "OnSuccess": {"Destination": SQS_OK}, "OnFailure": {"Destination": SQS_FAIL}}})])
    rid = invoke_event(s.client(), "fine", {"id": "s1", "n": [1, 2, 3]})
    [entry] = wait_records(s, SQS_OK, 1)
    check_sink_entry(entry, SQS_OK)
    resp = check_record(entry["Record"], rid, "fine", "Success", 1, {"id": "s1", "n": [1, 2, 3]})
    assert resp == {"ok": True, "id": "s1", "requestId": rid}
    time.sleep(0.3)
    assert destinations(s, SQS_FAIL) == []
    assert len(read_lines(rec)) == 1


def test_lambda_destination_invokes_that_function_with_the_record(make_lemu, tmp_path):
    """OnFailure = a Lambda function ARN: lemu invokes it (asynchronously) with the record as the
    event. The time scale comes from the config file here (Lemu.TimeScale)."""
    src_rec, dst_rec = tmp_path / "source.jsonl", tmp_path / "target.jsonl"
    target_arn = arn("target")
    s = start(make_lemu, tmp_path, [
        rec_fn("source", src_rec, env={"FAIL": "hand it over"},
               EventInvokeConfig=on_failure(target_arn, MaximumRetryAttempts=1)),
        rec_fn("target", dst_rec)], scale=None, lemu={"TimeScale": 0.001})
    payload = {"id": "handover", "deep": {"x": None}}
    rid = invoke_event(s.client(), "source", payload)
    [got] = wait_lines(dst_rec, 1)
    record = got["event"]
    err = check_record(record, rid, "source", "RetriesExhausted", 2, payload, function_error="Unhandled")
    check_python_error(err, "hand it over", rid)
    assert UUID_RE.match(got["requestId"]) and got["requestId"] != rid
    src = read_lines(src_rec)
    assert [a["requestId"] for a in src] == [rid, rid]
    assert 0.059 <= src[1]["t"] - src[0]["t"] <= 1.0   # Lemu.TimeScale applied
    time.sleep(0.3)
    assert len(read_lines(dst_rec)) == 1
    assert destinations(s, target_arn) == []  # a Lambda destination is invoked, not sunk


def test_dead_letter_queue_gets_the_original_body_and_attributes(make_lemu, tmp_path):
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("dlqfn", rec, DeadLetterConfig={"TargetArn": SQS_DLQ},
               EventInvokeConfig=on_failure(SQS_FAIL, MaximumRetryAttempts=0))])
    c = s.client()
    # The body is the event exactly as sent, spacing and all.
    raw = b'{"id": "d1",   "fail": "dead letter please", "list": [1, 2]}'
    rid = invoke_event(c, "dlqfn", raw)
    [dl] = wait_records(s, SQS_DLQ, 1)
    check_sink_entry(dl, SQS_DLQ, kind="dlq")
    assert dl["Body"] == raw.decode()
    attrs = dl["MessageAttributes"]
    assert set(attrs) == {"RequestID", "ErrorCode", "ErrorMessage"}
    assert attrs["RequestID"] == {"DataType": "String", "StringValue": rid}
    assert attrs["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}  # a function error: HTTP 200
    assert attrs["ErrorMessage"]["DataType"] == "String"
    assert "dead letter please" in attrs["ErrorMessage"]["StringValue"]
    # The OnFailure destination gets its record as well.
    [entry] = wait_records(s, SQS_FAIL, 1)
    check_record(entry["Record"], rid, "dlqfn", "RetriesExhausted", 1, json.loads(raw), function_error="Unhandled")

    # ErrorMessage is cut to 1 KB.
    rid2 = invoke_event(c, "dlqfn", {"id": "d2", "fail": "E" * 3000})
    records = wait_records(s, SQS_DLQ, 2)
    [dl2] = [r for r in records if r["MessageAttributes"]["RequestID"]["StringValue"] == rid2]
    msg = dl2["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert len(msg.encode()) == 1024, len(msg.encode())
    assert "E" * 500 in msg
    assert json.loads(dl2["Body"]) == {"id": "d2", "fail": "E" * 3000}


def test_destinations_survive_a_restart_on_the_same_state_dir(make_lemu, tmp_path):
    """GET /lemu/v1/destinations lists what earlier runs on the same --state-dir delivered (kept in
    its destinations.jsonl), oldest first, and new records come after them."""
    rec = tmp_path / "rec.jsonl"
    funcs = [rec_fn("sinky", rec, DeadLetterConfig={"TargetArn": SQS_DLQ},
                    EventInvokeConfig=on_failure(SQS_FAIL, MaximumRetryAttempts=0))]
    first = start(make_lemu, tmp_path, funcs)
    rid = invoke_event(first.client(), "sinky", {"id": "before", "fail": "first run"})
    wait_records(first, SQS_FAIL, 1)
    wait_records(first, SQS_DLQ, 1)
    before = control(first, "/lemu/v1/destinations")["Records"]
    assert len(before) == 2
    first.stop()

    second = start(make_lemu, tmp_path, funcs)
    assert control(second, "/lemu/v1/destinations")["Records"] == before
    [dl] = destinations(second, SQS_DLQ)
    assert dl["MessageAttributes"]["RequestID"]["StringValue"] == rid
    rid2 = invoke_event(second.client(), "sinky", {"id": "after", "fail": "second run"})
    failures = wait_records(second, SQS_FAIL, 2)
    assert [f["Record"]["requestContext"]["requestId"] for f in failures] == [rid, rid2]


def test_destinations_reloaded_are_the_newest_1000(make_lemu, tmp_path):
    """The list holds the newest 1,000 records (the file keeps them all): a restart reads back
    only those, skips a line torn by a crash, and the next record still starts a line."""
    state = tmp_path / "state"
    state.mkdir()
    sink = state / "destinations.jsonl"
    lines = [json.dumps({"Record": {"n": i}, "Destination": SQS_FAIL, "Type": "sqs",
                         "Timestamp": "2026-01-01T00:00:00.000Z"}) for i in range(1205)]
    sink.write_text("\n".join(lines) + "\n" + '{"Record": {"n": "torn"')
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("sinky", rec, EventInvokeConfig=on_failure(SQS_FAIL, MaximumRetryAttempts=0))])
    listed = destinations(s, SQS_FAIL)
    assert [r["Record"]["n"] for r in listed] == list(range(205, 1205))
    rid = invoke_event(s.client(), "sinky", {"id": "new", "fail": "after the torn line"})
    listed = wait_until(lambda: (lambda r: r if r[-1]["Record"].get("requestContext") else None)(
        destinations(s, SQS_FAIL)), 20, "the new record")
    assert len(listed) == 1000
    assert listed[0]["Record"]["n"] == 206
    assert listed[-1]["Record"]["requestContext"]["requestId"] == rid
    in_file = read_lines(sink)
    assert len(in_file) == 1206 and in_file[-1]["Record"]["requestContext"]["requestId"] == rid


def test_reserved_concurrency_0_goes_straight_to_failure(make_lemu, tmp_path):
    """Real time (scale 1): any retry or backoff would take at least a second."""
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("off", rec, ReservedConcurrentExecutions=0, DeadLetterConfig={"TargetArn": SQS_DLQ},
               EventInvokeConfig=on_failure(SQS_FAIL))], scale=None)
    t0 = time.monotonic()
    rid = invoke_event(s.client(), "off", {"id": "never"})
    [entry] = wait_records(s, SQS_FAIL, 1, timeout=5)
    assert time.monotonic() - t0 < 0.9, "no retries, no backoff"
    rec_doc = entry["Record"]
    assert rec_doc["requestContext"]["approximateInvokeCount"] == 0
    assert rec_doc["requestContext"]["condition"] in ("RetriesExhausted", "EventAgeExceeded")
    check_record(rec_doc, rid, "off", rec_doc["requestContext"]["condition"], 0, {"id": "never"},
                 response=False)
    [dl] = wait_records(s, SQS_DLQ, 1, timeout=2)
    assert dl["Body"] == '{"id": "never"}'
    assert dl["MessageAttributes"]["RequestID"]["StringValue"] == rid
    time.sleep(0.3)
    assert read_lines(rec) == []
    assert queue(s) == []


def test_embedded_sample_sends_failures_to_its_destinations(make_lemu, tmp_path):
    """sample-functions/async-fail declares its EventInvokeConfig and DeadLetterConfig in its
    function.json (the embedded default config), as docs/async.md shows."""
    s = make_lemu(args=["--state-dir", str(tmp_path / "state"), "--time-scale", SCALE])
    rid = invoke_event(s.client(), "async-fail", {"order": 42})
    [entry] = wait_records(s, SQS_FAIL, 1)
    err = check_record(entry["Record"], rid, "async-fail", "RetriesExhausted", 3, {"order": 42},
                       function_error="Unhandled")
    check_python_error(err, "async-fail always fails", rid, error_type="ValueError")
    [dl] = wait_records(s, SQS_DLQ, 1)
    assert dl["Body"] == '{"order": 42}'
    lines = wait_until(lambda: (lambda l: l if len(l) == 2 else None)(
        read_lines(tmp_path / "state" / "destinations.jsonl")), 5, "2 sink lines")
    assert sorted(lines, key=lambda e: e["Destination"]) == sorted([entry, dl], key=lambda e: e["Destination"])


def test_queued_events_run_as_capacity_allows(make_lemu, tmp_path):
    """Reserved concurrency 2 and a 100 ms handler: 40 queued events need about 2 s of the
    function's capacity. In real time (scale 1) lemu must feed the function as its slots free up
    (issue 8: "events run as capacity allows"), not leave the slots idle while the waiting events
    sit out a throttle backoff (1 s, 2 s, 4 s ... up to 5 min)."""
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("narrow", rec, env={"SLEEP_S": "0.1"}, ReservedConcurrentExecutions=2)],
              scale=None)
    c = s.client()
    for i in range(40):
        invoke_event(c, "narrow", {"id": "n%02d" % i})
    try:
        wait_until(lambda: len({a["id"] for a in read_lines(rec)}) == 40, 15, "40 events through 2 slots",
                   interval=0.1)
    except AssertionError:
        events = queue(s)
        raise AssertionError("after 15 s only %d of 40 events ran; %d queued, %d in flight" % (
            len({a["id"] for a in read_lines(rec)}), len(events),
            sum(e["State"] == "InFlight" for e in events)))


VERSIONED_HANDLER = """import json, os
V = %d
def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"v": V, "version": context.function_version, "event": event}) + "\\n")
    return {"v": V}
"""


def test_event_invoke_of_a_published_version_runs_that_version(make_lemu, tmp_path):
    def code(v):
        return zip_of(VERSIONED_HANDLER % v)

    rec = tmp_path / "versions.jsonl"
    s = make_lemu(config={}, args=["--state-dir", str(tmp_path / "state"), "--time-scale", SCALE])
    c = s.client()
    c.create_function(FunctionName="ver", Runtime="python3.12", Handler="app.handler", Code={"ZipFile": code(1)},
                      Role=ROLE,
                      Environment={"Variables": {"RECORD_FILE": str(rec)}})
    c.get_waiter("function_active_v2").wait(FunctionName="ver", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert c.publish_version(FunctionName="ver")["Version"] == "1"
    c.update_function_code(FunctionName="ver", ZipFile=code(2))
    c.get_waiter("function_updated_v2").wait(FunctionName="ver", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # Synchronously, Qualifier 1 runs version 1 (the management API's own behaviour).
    assert json.loads(c.invoke(FunctionName="ver", Qualifier="1", Payload=b"{}")["Payload"].read()) == {"v": 1}
    invoke_event(c, "ver", {"id": "async-v1"}, Qualifier="1")
    invoke_event(c, "ver", {"id": "async-latest"})
    lines = wait_lines(rec, 3)
    by_id = {l["event"].get("id"): (l["v"], l["version"]) for l in lines}
    assert by_id["async-latest"] == (2, "$LATEST")
    assert by_id["async-v1"] == (1, "1"), "an Event invoke of version 1 ran %r" % (by_id["async-v1"],)


def zip_of(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


FAILING_HANDLER = "def handler(event, context):\n    raise Exception('created to fail')\n"
ROLE = "arn:aws:iam::%s:role/lambda-role" % ACCOUNT


def test_dead_letter_config_from_create_and_update_function(make_lemu, tmp_path):
    """DeadLetterConfig set through the management API is kept in the function's configuration
    (FunctionConfiguration.DeadLetterConfig, reference §7.4) and used by the async queue."""
    s = make_lemu(config={}, args=["--state-dir", str(tmp_path / "state"), "--time-scale", SCALE,
                                   "--pending-seconds", "0"])
    c = s.client()
    created = c.create_function(FunctionName="dl", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                                Code={"ZipFile": zip_of(FAILING_HANDLER)}, DeadLetterConfig={"TargetArn": SQS_DLQ})
    assert created.get("DeadLetterConfig") == {"TargetArn": SQS_DLQ}
    assert c.get_function_configuration(FunctionName="dl").get("DeadLetterConfig") == {"TargetArn": SQS_DLQ}
    c.put_function_event_invoke_config(FunctionName="dl", MaximumRetryAttempts=0)
    rid = invoke_event(c, "dl", {"id": "created"})
    [dl] = wait_records(s, SQS_DLQ, 1, timeout=10)
    assert dl["Body"] == '{"id": "created"}'
    assert dl["MessageAttributes"]["RequestID"]["StringValue"] == rid
    # UpdateFunctionConfiguration moves it.
    other = SQS_DLQ + "-2"
    c.update_function_configuration(FunctionName="dl", DeadLetterConfig={"TargetArn": other})
    c.get_waiter("function_updated_v2").wait(FunctionName="dl", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert c.get_function_configuration(FunctionName="dl").get("DeadLetterConfig") == {"TargetArn": other}
    rid2 = invoke_event(c, "dl", {"id": "updated"})
    [dl2] = wait_records(s, other, 1, timeout=10)
    assert dl2["MessageAttributes"]["RequestID"]["StringValue"] == rid2


def test_config_file_dead_letter_config_is_in_the_function_configuration(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("withdlq", rec, DeadLetterConfig={"TargetArn": SQS_DLQ})])
    assert s.client().get_function_configuration(FunctionName="withdlq").get("DeadLetterConfig") == \
        {"TargetArn": SQS_DLQ}


SNS_DLQ = "arn:aws:sns:%s:%s:async-dlq-topic" % (REGION, ACCOUNT)
DLQ_PATTERN = "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"


def test_dead_letter_config_is_validated_and_removed_as_on_aws(make_lemu, tmp_path):
    """TargetArn must match the model's pattern (ValidationException) and name an SQS queue or an
    SNS topic (InvalidParameterValueException); a refused request leaves no trace. Unset, AWS
    leaves DeadLetterConfig out of the configuration; UpdateFunctionConfiguration with
    DeadLetterConfig {} keeps it and with TargetArn "" removes it."""
    s = make_lemu(config={}, args=["--state-dir", str(tmp_path / "state"), "--pending-seconds", "0"])
    c = s.client()
    base = dict(Runtime="python3.12", Handler="app.handler", Role=ROLE, Code={"ZipFile": zip_of(FAILING_HANDLER)})
    s3 = "arn:aws:s3:::a-bucket"
    refused = [
        ("not-an-arn", (400, "ValidationException",
                        "1 validation error detected: Value 'not-an-arn' at 'deadLetterConfig.targetArn' failed to "
                        "satisfy constraint: Member must satisfy regular expression pattern: " + DLQ_PATTERN)),
        ("", (400, "InvalidParameterValueException", "Invalid dead letter queue ARN: ARNs must start with 'arn:': ")),
        (s3, (400, "InvalidParameterValueException",
              "Invalid dead letter queue ARN: the target must be an Amazon SQS queue or an Amazon SNS topic: " + s3)),
    ]
    for target, expected in refused:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            c.create_function(FunctionName="dlqv", DeadLetterConfig={"TargetArn": target}, **base)
        assert client_error(ei) == expected, target
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_function(FunctionName="dlqv")
    assert client_error(ei)[:2] == (404, "ResourceNotFoundException")

    created = c.create_function(FunctionName="dlqv", **base)
    assert "DeadLetterConfig" not in created
    assert "DeadLetterConfig" not in c.get_function(FunctionName="dlqv")["Configuration"]

    updated = c.update_function_configuration(FunctionName="dlqv", DeadLetterConfig={"TargetArn": SNS_DLQ})
    assert updated["DeadLetterConfig"] == {"TargetArn": SNS_DLQ}
    revision = updated["RevisionId"]
    for target in ("arn:aws:lambda:us-east-1:%s:function:other" % ACCOUNT, "sqs-queue-url"):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            c.update_function_configuration(FunctionName="dlqv", DeadLetterConfig={"TargetArn": target})
        assert client_error(ei)[1] in ("InvalidParameterValueException", "ValidationException"), target
    cfg = c.get_function_configuration(FunctionName="dlqv")
    assert (cfg["DeadLetterConfig"], cfg["RevisionId"]) == ({"TargetArn": SNS_DLQ}, revision)
    assert c.update_function_configuration(FunctionName="dlqv", DeadLetterConfig={}, Timeout=5)[
        "DeadLetterConfig"] == {"TargetArn": SNS_DLQ}
    assert "DeadLetterConfig" not in c.update_function_configuration(FunctionName="dlqv",
                                                                     DeadLetterConfig={"TargetArn": ""})
    cfg = c.get_function_configuration(FunctionName="dlqv")
    assert "DeadLetterConfig" not in cfg and cfg["Timeout"] == 5


def test_dead_letter_config_survives_a_restart_per_version(make_lemu, tmp_path):
    """DeadLetterConfig is stored with the function in the state dir: after a restart GetFunction-
    Configuration reports it and the queue uses it. A published version keeps the DLQ it was
    published with, as on AWS, so an event for version 1 goes to version 1's DLQ."""
    args = ["--state-dir", str(tmp_path / "state"), "--time-scale", SCALE, "--pending-seconds", "0"]
    first = make_lemu(config={}, args=args)
    c = first.client()
    c.create_function(FunctionName="dlr", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                      Code={"ZipFile": zip_of(FAILING_HANDLER)}, DeadLetterConfig={"TargetArn": SQS_DLQ})
    c.put_function_event_invoke_config(FunctionName="dlr", MaximumRetryAttempts=0)
    assert c.publish_version(FunctionName="dlr")["DeadLetterConfig"] == {"TargetArn": SQS_DLQ}
    c.update_function_configuration(FunctionName="dlr", DeadLetterConfig={"TargetArn": SNS_DLQ})
    first.stop()

    second = make_lemu(config={}, args=args)
    c = second.client()
    assert c.get_function_configuration(FunctionName="dlr")["DeadLetterConfig"] == {"TargetArn": SNS_DLQ}
    assert c.get_function_configuration(FunctionName="dlr", Qualifier="1")["DeadLetterConfig"] == \
        {"TargetArn": SQS_DLQ}
    rid = invoke_event(c, "dlr", {"id": "latest"})
    rid1 = invoke_event(c, "dlr", {"id": "v1"}, Qualifier="1")
    [dl] = wait_records(second, SNS_DLQ, 1)
    [dl1] = wait_records(second, SQS_DLQ, 1)
    assert (dl["MessageAttributes"]["RequestID"]["StringValue"], dl["Body"]) == (rid, '{"id": "latest"}')
    assert (dl1["MessageAttributes"]["RequestID"]["StringValue"], dl1["Body"]) == (rid1, '{"id": "v1"}')


def test_dead_letter_config_changed_while_an_event_waits_for_its_retry(make_lemu, tmp_path):
    """The DLQ is read when the event fails for good: an UpdateFunctionConfiguration made while the
    event waits for its retry decides where it goes (here for a function of the config file,
    whose own DeadLetterConfig it replaces)."""
    rec = tmp_path / "attempts.jsonl"
    # --time-scale 0.05: the retry comes 3 s (60 s scaled) after the first failure.
    s = start(make_lemu, tmp_path, [rec_fn("mover", rec, DeadLetterConfig={"TargetArn": SQS_DLQ},
                                           EventInvokeConfig={"MaximumRetryAttempts": 1})], scale="0.05")
    c = s.client()
    rid = invoke_event(c, "mover", {"id": "m1", "fail": "moved"})
    wait_lines(rec, 1)
    c.update_function_configuration(FunctionName="mover", DeadLetterConfig={"TargetArn": SNS_DLQ})
    [dl] = wait_records(s, SNS_DLQ, 1)
    assert dl["MessageAttributes"]["RequestID"]["StringValue"] == rid
    assert [a["requestId"] for a in read_lines(rec)] == [rid, rid]
    assert destinations(s, SQS_DLQ) == []


def test_delete_function_removes_its_event_invoke_config(make_lemu, tmp_path):
    """AWS deletes a function's EventInvokeConfig with the function: a new function of the same
    name starts without one."""
    s = make_lemu(config={}, args=["--state-dir", str(tmp_path / "state"), "--pending-seconds", "0"])
    c = s.client()
    for _ in range(2):
        c.create_function(FunctionName="again", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                          Code={"ZipFile": zip_of(FAILING_HANDLER)})
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            c.get_function_event_invoke_config(FunctionName="again")
        assert client_error(ei) == (404, "ResourceNotFoundException", NO_CONFIG % arn("again"))
        c.put_function_event_invoke_config(FunctionName="again", MaximumRetryAttempts=0)
        c.delete_function(FunctionName="again")


# ---------------------------------------------------------------------------------------
# the EventInvokeConfig API

def raw_get_config(server, name):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/2019-09-25/functions/%s/event-invoke-config" % name)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), json.loads(r.read())
    finally:
        conn.close()


def strip_meta(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def test_function_event_invoke_config_api(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    s = start(make_lemu, tmp_path, [rec_fn("cfg", rec)])
    c = s.client()
    cv = s.client(parameter_validation=False)  # so out-of-range values reach lemu
    fn_arn = arn("cfg")

    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_function_event_invoke_config(FunctionName="cfg")
    assert client_error(ei) == (404, "ResourceNotFoundException", NO_CONFIG % fn_arn)
    assert c.list_function_event_invoke_configs(FunctionName="cfg")["FunctionEventInvokeConfigs"] == []

    before = time.time()
    put = c.put_function_event_invoke_config(
        FunctionName="cfg", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": SQS_FAIL}})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert UUID_RE.match(put["ResponseMetadata"]["RequestId"])
    put = strip_meta(put)
    last_modified = put.pop("LastModified")
    assert isinstance(last_modified, datetime.datetime)
    assert before - 2 <= last_modified.timestamp() <= time.time() + 2
    assert put == {"FunctionArn": fn_arn + ":$LATEST", "MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600,
                   "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": SQS_FAIL}}}
    # On the wire LastModified is a JSON number of epoch seconds (reference §5).
    status, ctype, raw = raw_get_config(s, "cfg")
    assert status == 200 and ctype == "application/json"
    assert isinstance(raw["LastModified"], (int, float)) and not isinstance(raw["LastModified"], bool)
    assert abs(raw["LastModified"] - last_modified.timestamp()) < 0.002
    got = strip_meta(c.get_function_event_invoke_config(FunctionName="cfg"))
    got.pop("LastModified")
    assert got == put

    # Update merges: settings it does not name are kept.
    upd = strip_meta(c.update_function_event_invoke_config(FunctionName="cfg", MaximumRetryAttempts=0))
    upd.pop("LastModified")
    assert upd == dict(put, MaximumRetryAttempts=0)
    # Put overwrites: settings it does not name are removed.
    put2 = strip_meta(c.put_function_event_invoke_config(FunctionName="cfg", MaximumRetryAttempts=2))
    put2.pop("LastModified")
    assert put2 == {"FunctionArn": fn_arn + ":$LATEST", "MaximumRetryAttempts": 2,
                    "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}}}
    listed = c.list_function_event_invoke_configs(FunctionName="cfg")["FunctionEventInvokeConfigs"]
    assert len(listed) == 1
    listed[0].pop("LastModified")
    assert listed == [put2]

    # Validation (reference §5): the exact AWS messages.
    for kw, message in [({"MaximumRetryAttempts": 3}, RETRY_3), ({"MaximumRetryAttempts": -1}, RETRY_NEG),
                        ({"MaximumEventAgeInSeconds": 59}, AGE_59),
                        ({"MaximumEventAgeInSeconds": 21601}, AGE_21601)]:
        for call in (cv.put_function_event_invoke_config, cv.update_function_event_invoke_config):
            with pytest.raises(botocore.exceptions.ClientError) as ei:
                call(FunctionName="cfg", **kw)
            assert client_error(ei) == (400, "ValidationException", message), (kw, call)
    # Boundaries are accepted.
    for kw in ({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
               {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}):
        assert c.put_function_event_invoke_config(FunctionName="cfg", **kw)["MaximumEventAgeInSeconds"] == \
            kw["MaximumEventAgeInSeconds"]
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        cv.put_function_event_invoke_config(FunctionName="cfg",
                                            DestinationConfig={"OnFailure": {"Destination": "not-an-arn"}})
    assert client_error(ei)[:2] == (400, "ValidationException")
    assert "'destinationConfig.onFailure.destination'" in client_error(ei)[2]
    # Unknown function.
    for call in (c.get_function_event_invoke_config, c.delete_function_event_invoke_config,
                 c.list_function_event_invoke_configs):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(FunctionName="nope")
        assert client_error(ei) == (404, "ResourceNotFoundException", NOT_FOUND % arn("nope")), call

    # Delete: 204, then it is gone.
    d = c.delete_function_event_invoke_config(FunctionName="cfg")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_function_event_invoke_config(FunctionName="cfg")
    assert client_error(ei) == (404, "ResourceNotFoundException", NO_CONFIG % fn_arn)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.delete_function_event_invoke_config(FunctionName="cfg")
    assert client_error(ei) == (404, "ResourceNotFoundException", NO_CONFIG % fn_arn)
    assert c.list_function_event_invoke_configs(FunctionName="cfg")["FunctionEventInvokeConfigs"] == []


def test_event_invoke_config_put_and_delete_survive_a_restart(make_lemu, tmp_path):
    rec = tmp_path / "rec.jsonl"
    funcs = [rec_fn("keep", rec), rec_fn("drop", rec)]
    s = start(make_lemu, tmp_path, funcs)
    c = s.client()
    c.put_function_event_invoke_config(FunctionName="keep", MaximumRetryAttempts=0,
                                       DestinationConfig={"OnSuccess": {"Destination": SQS_OK}})
    c.put_function_event_invoke_config(FunctionName="drop", MaximumRetryAttempts=1)
    c.delete_function_event_invoke_config(FunctionName="drop")
    s.stop()
    s2 = start(make_lemu, tmp_path, funcs)
    c2 = s2.client()
    got = c2.get_function_event_invoke_config(FunctionName="keep")
    assert got["MaximumRetryAttempts"] == 0
    assert got["DestinationConfig"] == {"OnSuccess": {"Destination": SQS_OK}, "OnFailure": {}}
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c2.get_function_event_invoke_config(FunctionName="drop")
    assert client_error(ei) == (404, "ResourceNotFoundException", NO_CONFIG % arn("drop")), \
        "a deleted EventInvokeConfig came back after a restart"


# ---------------------------------------------------------------------------------------
# GET /lemu/v1/queue

def test_queue_shows_attempts_and_next_attempt_time(make_lemu, tmp_path):
    """Real time: a failed event waits 1 min for its retry; a slow one is in flight; a throttled
    one waits with no attempt yet."""
    rec = tmp_path / "attempts.jsonl"
    s = start(make_lemu, tmp_path, [
        rec_fn("failing", rec, env={"FAIL": "try again later"}),
        rec_fn("slow", rec, ReservedConcurrentExecutions=1)], scale=None)
    c = s.client()
    rid_fail = invoke_event(c, "failing", {"id": "f"})
    rid_slow = invoke_event(c, "slow", {"id": "slow", "sleep": 4})
    wait_until(lambda: {a["id"] for a in read_lines(rec)} == {"f", "slow"}, 15, "both first attempts")
    rid_wait = invoke_event(c, "slow", {"id": "waiting"})
    attempt_t = [a["t"] for a in read_lines(rec) if a["id"] == "f"][0]

    def settled():
        events = queue(s)
        by_id = {e["RequestId"]: e for e in events}
        f = by_id.get(rid_fail)
        return events if f and f["State"] == "Queued" and f["Attempts"] == 1 and rid_wait in by_id else None
    events = wait_until(settled, 5, "the failed event back in the queue")
    assert len(events) == 3, events
    by_id = {e["RequestId"]: e for e in events}
    for e in events:
        assert list(e) == ["RequestId", "Function", "Attempts", "NextAttempt", "State"], e
    f = by_id[rid_fail]
    assert f["Function"] == "failing"
    delay = epoch_of(f["NextAttempt"]) - attempt_t
    assert 59.9 <= delay <= 62, "retry 1 min after the failed attempt, got %.3f s" % delay
    slow = by_id[rid_slow]
    assert (slow["Function"], slow["Attempts"], slow["State"]) == ("slow", 1, "InFlight")
    w = by_id[rid_wait]
    assert (w["Function"], w["Attempts"], w["State"]) == ("slow", 0, "Queued")
    assert epoch_of(w["NextAttempt"]) - time.time() <= 301  # throttle backoff: 1 s .. 5 min


# ---------------------------------------------------------------------------------------
# crash safety

def kill_hard(server):
    """SIGKILL lemu and then every process it had started (its execution environments)."""
    kids = descendants(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    table = proc_table()
    for pid in kids:
        if pid in table:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_kill_9_with_1000_events_loses_none(make_lemu, tmp_path):
    n, reserved = 1000, 50
    rec = tmp_path / "delivered.jsonl"
    gate = tmp_path / "gate"
    state = tmp_path / "state"
    sink_file = state / "destinations.jsonl"
    # 50 at a time, 200 ms each, the rest throttled (backoff 1 s .. 5 min, scaled to 4 ms .. 1.2 s;
    # the 6 h age limit becomes 86 s, far away). The handlers wait at a gate until all 1,000
    # events are queued, so the kill lands mid-way.
    funcs = [sh_fn("crashy", rec, env={"SLEEP_S": "0.2", "GATE_FILE": str(gate)},
                    ReservedConcurrentExecutions=reserved,
                    EventInvokeConfig={"DestinationConfig": {"OnSuccess": {"Destination": SQS_OK},
                                                             "OnFailure": {"Destination": SQS_FAIL}}})]
    config = {"Functions": funcs}
    args = ["--state-dir", str(state), "--time-scale", "0.004"]
    t_start = time.monotonic()
    first = LemuServer(tmp_path, config, args).start()
    try:
        c = first.client(max_pool_connections=16)
        ids = ["ev-%04d" % i for i in range(n)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            rids = list(pool.map(lambda i: invoke_event(c, "crashy", {"id": i}), ids))
        rid_to_id = dict(zip(rids, ids))
        assert len(rid_to_id) == n
        t_queued = time.monotonic()
        gate.write_text("open")
        wait_until(lambda: len({a["id"] for a in read_lines(rec)}) >= 200, 60, "200 deliveries")
        kill_hard(first)
        t_killed = time.monotonic()
    finally:
        if first.proc.poll() is None:
            kill_hard(first)
    seen_before = {a["id"] for a in read_lines(rec)}
    done_before = set()
    for e in read_lines(sink_file):
        assert e["Destination"] == SQS_OK, e
        done_before.add(rid_to_id[e["Record"]["requestContext"]["requestId"]])
    assert len(seen_before) < n, "the kill came too late to be mid-way"
    in_flight = seen_before - done_before
    assert in_flight, "no event was in flight at the kill"

    second = make_lemu(config=config, args=args)

    def progress():
        failed = destinations(second, SQS_FAIL)
        assert failed == [], "events failed (%d), e.g. %r" % (len(failed), failed[0])
        return {a["id"] for a in read_lines(rec)} == set(ids)
    wait_until(progress, 90, "all 1000 ids delivered", interval=0.2)
    print("queued in %.1f s, killed %.1f s later with %d ids delivered (%d in flight), all delivered "
          "%.1f s after the kill" % (t_queued - t_start, t_killed - t_queued, len(seen_before), len(in_flight),
                                     time.monotonic() - t_killed))
    records = wait_until(lambda: (lambda r: r if {x["Record"]["requestContext"]["requestId"] for x in r}
                                  == set(rids) else None)(read_lines(sink_file)),
                         30, "a success record for every event", interval=0.2)
    wait_until(lambda: queue(second) == [], 10, "an empty queue")
    counts = {}
    for e in records:
        rc = e["Record"]["requestContext"]
        assert (e["Destination"], rc["condition"]) == (SQS_OK, "Success"), e
        counts.setdefault(rid_to_id[rc["requestId"]], []).append(rc["approximateInvokeCount"])
    # Attempt counts survive the crash: an event in flight at the kill was counted, so its
    # delivery after the restart is its 2nd attempt (at least).
    for i in in_flight:
        assert max(counts[i]) >= 2, (i, counts[i])
    # Events never started before the kill are attempted once, except the few (at most the
    # reserved concurrency) that lemu had started but whose handler had not yet written its line.
    fresh = set(ids) - seen_before
    recounted = [i for i in fresh if counts[i] != [1]]
    assert len(recounted) <= reserved, [(i, counts[i]) for i in recounted]
    assert set(counts) == set(ids)

