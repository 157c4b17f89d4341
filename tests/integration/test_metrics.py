"""GET /lemu/v1/metrics (issue 12): the Prometheus text exposition, with CloudWatch's AWS/Lambda
metric names (Invocations, Errors, Throttles, DeadLetterErrors, Duration, ConcurrentExecutions,
AsyncEventsReceived, AsyncEventsDropped, AsyncEventAge) and lemu's own (cold starts, async queue
depth, environments, fault firings per rule).

Each test scrapes before and after what it does and checks that every counter moved by exactly
the invokes, function errors and throttles the test caused, and no other counter moved.
"""
import concurrent.futures
import json
import re
import time
import urllib.request

import botocore.exceptions
import pytest

from conftest import sample
from lemu_testlib import fn

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                       r'(-?[0-9.e+]+|\+Inf|NaN)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
COUNTERS = ["aws_lambda_invocations_total", "aws_lambda_errors_total", "aws_lambda_throttles_total",
            "aws_lambda_dead_letter_errors_total", "aws_lambda_async_events_received_total",
            "aws_lambda_async_events_dropped_total", "lemu_cold_starts_total",
            "aws_lambda_duration_milliseconds_count"]
FAMILIES = {  # name: type
    "aws_lambda_invocations_total": "counter", "aws_lambda_errors_total": "counter",
    "aws_lambda_throttles_total": "counter", "aws_lambda_dead_letter_errors_total": "counter",
    "aws_lambda_duration_milliseconds": "histogram", "aws_lambda_concurrent_executions": "gauge",
    "aws_lambda_unreserved_concurrent_executions": "gauge",
    "aws_lambda_async_events_received_total": "counter", "aws_lambda_async_events_dropped_total": "counter",
    "aws_lambda_async_event_age_milliseconds": "gauge", "lemu_async_queue_depth": "gauge",
    "lemu_cold_starts_total": "counter", "lemu_environments": "gauge", "lemu_fault_firings_total": "counter",
}


def scrape(server):
    """{(name, frozenset(labels)): value}, checking the text format on the way."""
    with urllib.request.urlopen(server.url + "/lemu/v1/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == CONTENT_TYPE
        text = r.read().decode()
    assert text.endswith("\n")
    types, out = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE_RE.match(line)
        assert m, "not a Prometheus sample line: %r" % line
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in out, "duplicate sample %r" % line
        out[key] = float(m.group(3))
    assert types == FAMILIES
    return out


def value(metrics, name, **labels):
    return metrics.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)


def counter_deltas(before, after):
    """{(name, function): delta} of every counter sample that moved."""
    moved = {}
    for (name, labels), v in after.items():
        if name in COUNTERS or name == "lemu_fault_firings_total":
            d = v - before.get((name, labels), 0.0)
            if d:
                moved[(name, dict(labels).get("function_name"))] = moved.get((name, dict(labels).get(
                    "function_name")), 0) + d
    return moved


def no_retry_client(server):
    """botocore's max_attempts counts retries: total_max_attempts 1 is one request, no retry, so
    each throttle the test causes is seen once."""
    return server.client(retries={"total_max_attempts": 1, "mode": "standard"})


def invoke(client, name, payload=b"{}"):
    return client.invoke(FunctionName=name, Payload=payload)


@pytest.fixture
def server(make_lemu, tmp_path):
    config = {"Functions": [
        fn("echo", sample("echo")),
        fn("fail", sample("fail")),
        fn("slow", sample("sleep"), timeout=1, ReservedConcurrentExecutions=1),
    ]}
    return make_lemu(config, args=["--state-dir", str(tmp_path / "state"), "--time-scale", "0.001"])


def test_every_function_is_listed_with_zero_before_any_invoke(server):
    m = scrape(server)
    for name in ("echo", "fail", "slow"):
        for counter in COUNTERS:
            assert value(m, counter, function_name=name) == 0, (counter, name)
        assert value(m, "aws_lambda_concurrent_executions", function_name=name) == 0
        assert value(m, "aws_lambda_duration_milliseconds_bucket", function_name=name, le="+Inf") == 0
    assert value(m, "aws_lambda_unreserved_concurrent_executions") == 0


def test_counters_move_by_exactly_the_invokes_errors_and_throttles(server):
    c = no_retry_client(server)
    before = scrape(server)
    for _ in range(3):
        assert "FunctionError" not in invoke(c, "echo")
    for _ in range(2):
        assert invoke(c, "fail")["FunctionError"] == "Unhandled"
    # an injected throttle: a Throttle, a fault firing, and no invocation
    rule = server_fault(server, {"Function": "echo", "Fault": "throttle", "When": {"Nth": [1]}})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(c, "echo")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # a concurrency throttle: slow has ReservedConcurrentExecutions 1 and one invoke is running
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke, no_retry_client(server), "slow", b"0.6")
        deadline = time.monotonic() + 5
        while value(scrape(server), "aws_lambda_concurrent_executions", function_name="slow") != 1:
            assert time.monotonic() < deadline, "slow never showed as running"
            time.sleep(0.02)
        during = scrape(server)
        assert value(during, "lemu_environments", function_name="slow", state="busy") + value(
            during, "lemu_environments", function_name="slow", state="starting") == 1
        with pytest.raises(botocore.exceptions.ClientError) as e:
            invoke(c, "slow", b"0.1")
        assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert "FunctionError" not in running.result()
    # a timeout is an invocation with a function error
    assert json.loads(invoke(c, "slow", b"3")["Payload"].read())["errorType"] == "Sandbox.Timedout"
    after = scrape(server)

    assert counter_deltas(before, after) == {
        ("aws_lambda_invocations_total", "echo"): 3,
        ("aws_lambda_duration_milliseconds_count", "echo"): 3,
        ("lemu_cold_starts_total", "echo"): 1,
        ("aws_lambda_throttles_total", "echo"): 1,
        ("lemu_fault_firings_total", "echo"): 1,
        ("aws_lambda_invocations_total", "fail"): 2,
        ("aws_lambda_duration_milliseconds_count", "fail"): 2,
        ("aws_lambda_errors_total", "fail"): 2,
        ("lemu_cold_starts_total", "fail"): 1,
        ("aws_lambda_invocations_total", "slow"): 2,
        ("aws_lambda_duration_milliseconds_count", "slow"): 2,
        ("aws_lambda_errors_total", "slow"): 1,
        ("aws_lambda_throttles_total", "slow"): 1,
        ("lemu_cold_starts_total", "slow"): 1,  # the timed-out invoke reused the warm environment
    }
    assert value(after, "lemu_fault_firings_total", rule_id=rule, fault="throttle", function_name="echo") == 1
    assert value(after, "aws_lambda_concurrent_executions", function_name="slow") == 0
    # Duration: the timed-out invoke counts its whole Timeout (1 s); the 0.6 s sleep is >= 600 ms
    assert value(after, "aws_lambda_duration_milliseconds_sum", function_name="slow") >= 1600
    assert value(after, "aws_lambda_duration_milliseconds_bucket", function_name="slow", le="500") == 0
    assert value(after, "aws_lambda_duration_milliseconds_bucket", function_name="slow", le="1000") == 2
    # histogram buckets are cumulative and end at the count
    for name in ("echo", "fail", "slow"):
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in after.items()
                          if n == "aws_lambda_duration_milliseconds_bucket" and dict(l)["function_name"] == name),
                         key=lambda b: b[0])
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)
        assert buckets[-1] == (float("inf"), value(after, "aws_lambda_duration_milliseconds_count", function_name=name))


def test_async_events_received_retried_and_dropped(make_lemu, tmp_path):
    dlq = "arn:aws:sqs:us-east-1:123456789012:metrics-dlq"
    server = make_lemu({"Functions": [
        fn("fail", sample("fail"), EventInvokeConfig={"MaximumRetryAttempts": 1},
           DeadLetterConfig={"TargetArn": dlq}),
    ]}, args=["--state-dir", str(tmp_path / "state"), "--time-scale", "0.001"])
    c = no_retry_client(server)
    before = scrape(server)
    for _ in range(2):
        assert c.invoke(FunctionName="fail", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while value(scrape(server), "aws_lambda_async_events_dropped_total", function_name="fail") < 2:
        assert time.monotonic() < deadline, "the events were never dropped"
        time.sleep(0.05)
    after = scrape(server)
    # two events, each tried twice (MaximumRetryAttempts 1), each a function error, then dropped
    assert counter_deltas(before, after) == {
        ("aws_lambda_async_events_received_total", "fail"): 2,
        ("aws_lambda_invocations_total", "fail"): 4,
        ("aws_lambda_duration_milliseconds_count", "fail"): 4,
        ("aws_lambda_errors_total", "fail"): 4,
        ("aws_lambda_async_events_dropped_total", "fail"): 2,
        ("lemu_cold_starts_total", "fail"): after[("lemu_cold_starts_total", frozenset({("function_name", "fail")}))],
    }
    assert value(after, "lemu_async_queue_depth", function_name="fail", state="queued") == 0
    assert value(after, "lemu_async_queue_depth", function_name="fail", state="in_flight") == 0
    assert value(after, "aws_lambda_async_event_age_milliseconds", function_name="fail") == 0
    assert value(after, "aws_lambda_dead_letter_errors_total", function_name="fail") == 0


def test_queue_depth_and_age_while_events_wait(make_lemu, tmp_path):
    """Reserved concurrency 1 and a long first event: the second waits in the queue and ages."""
    server = make_lemu({"Functions": [fn("slow", sample("sleep"), timeout=3, ReservedConcurrentExecutions=1)]},
                       args=["--state-dir", str(tmp_path / "state")])
    c = no_retry_client(server)
    c.invoke(FunctionName="slow", InvocationType="Event", Payload=b"1")
    c.invoke(FunctionName="slow", InvocationType="Event", Payload=b"0.1")
    time.sleep(0.5)
    m = scrape(server)
    assert value(m, "lemu_async_queue_depth", function_name="slow", state="in_flight") == 1
    assert value(m, "lemu_async_queue_depth", function_name="slow", state="queued") == 1
    assert value(m, "aws_lambda_async_event_age_milliseconds", function_name="slow") >= 400
    assert value(m, "aws_lambda_async_events_received_total", function_name="slow") == 2


def server_fault(server, rule):
    req = urllib.request.Request(server.url + "/lemu/v1/faults", data=json.dumps(rule).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["Id"]
