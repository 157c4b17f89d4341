"""The unmodified `aws-lambda-ric` from npm (AWS's Node.js runtime interface client, the one AWS
documents for custom container images) as the runtime of a `provided` function, driven through
unmodified boto3: the proof that lemu's Runtime API is the one AWS's own client speaks.

tests/ric/install DIR installs the RIC pinned by tests/ric/package-lock.json into DIR (it builds a
native addon: curl + aws-lambda-cpp, so it is a setup step, never done here); run these tests with
LEMU_RIC_DIR=DIR. Without it they skip. The function is tests/ric/function: a `bootstrap` that
execs `node $LEMU_RIC_DIR/node_modules/.bin/aws-lambda-ric $_HANDLER`, and index.js.

Everything the function returns is the RIC's own doing (its context object, its serialisation,
its error document): expected values are AWS's documented behaviour, never lemu's output.
"""
import json
import os
import shutil
import time

import pytest

import conftest
from lemu_testlib import INVOKE_LIMIT, arn, exact_json, fn, request_id

RIC_DIR = os.environ.get("LEMU_RIC_DIR", "")
FUNCTION_SRC = os.path.join(conftest.REPO, "tests", "ric", "function")
TIMEOUT_S = 10
MEMORY_MB = 512


def _ric_missing_reason():
    if not RIC_DIR:
        return ("LEMU_RIC_DIR is not set: run `tests/ric/install DIR` and set LEMU_RIC_DIR=DIR "
                "(tools/test does both)")
    pkg = os.path.join(RIC_DIR, "node_modules", "aws-lambda-ric")
    for rel in ("bin/index.mjs", "dist/rapid-client.node"):
        if not os.path.isfile(os.path.join(pkg, rel)):
            return "aws-lambda-ric is not installed in LEMU_RIC_DIR=%s (no %s): run `tests/ric/install %s`" % (
                RIC_DIR, rel, RIC_DIR)
    if not shutil.which("node"):
        return "no node on PATH"
    return None


pytestmark = pytest.mark.skipif(_ric_missing_reason() is not None, reason=_ric_missing_reason() or "")


@pytest.fixture
def ric(make_lemu, tmp_path):
    """A lemu serving three functions over one copy of tests/ric/function, each a different
    handler of index.js run by the RIC."""
    code = os.path.realpath(str(tmp_path / "function"))
    shutil.copytree(FUNCTION_SRC, code)
    env = {"LEMU_RIC_DIR": os.path.realpath(RIC_DIR)}
    config = {"Functions": [
        fn("ric-context", code, handler="index.handler", timeout=TIMEOUT_S, memory=MEMORY_MB, env=env),
        fn("ric-echo", code, handler="index.echo", timeout=TIMEOUT_S, memory=MEMORY_MB, env=env),
        fn("ric-throws", code, handler="index.throws", timeout=TIMEOUT_S, memory=MEMORY_MB, env=env),
    ]}
    server = make_lemu(config)
    server.code_dir = code
    return server


def invoke(client, name, payload):
    resp = client.invoke(FunctionName=name, Payload=payload)
    rid = request_id(resp)
    assert resp["StatusCode"] == 200
    return resp, rid, resp["Payload"].read()


def test_echo_payload_byte_exact(ric):
    # Canonical JSON (compact, UTF-8 kept, only the escapes JSON.stringify makes): the RIC parses
    # the event and re-serialises the handler's return value, so it comes back byte for byte.
    payload = exact_json(4096, seed=7)
    resp, _, body = invoke(ric.client(), "ric-echo", payload)
    assert "FunctionError" not in resp, body
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    assert body == payload


def test_context_request_id_and_warm_reuse(ric):
    client = ric.client()
    seen = []
    for i in range(2):
        payload = json.dumps({"n": i, "text": "caf\u00e9 \u2713"}, ensure_ascii=False).encode()
        before_ms = time.time() * 1000
        resp, rid, body = invoke(client, "ric-context", payload)
        assert "FunctionError" not in resp, body
        out = json.loads(body)
        assert out["event"] == json.loads(payload)
        # The RIC's context.awsRequestId is the Lambda-Runtime-Aws-Request-Id lemu gave it on
        # /next, which must be the caller's x-amzn-RequestId.
        assert out["awsRequestId"] == rid
        assert out["functionName"] == "ric-context"
        assert out["functionVersion"] == "$LATEST"
        assert out["invokedFunctionArn"] == arn("ric-context")
        assert out["memoryLimitInMB"] == str(MEMORY_MB)
        assert out["logGroupName"] == "/aws/lambda/ric-context"
        # getRemainingTimeInMillis() counts down to the deadline lemu sent
        # (Lambda-Runtime-Deadline-Ms = invoke start + Timeout).
        first, second = out["remainingTimeInMillis"]
        assert 0 < second < first <= TIMEOUT_S * 1000, out
        assert first > TIMEOUT_S * 1000 - 2000, out
        deadline = out["nowMs"] + second
        assert before_ms + TIMEOUT_S * 1000 - 2000 < deadline <= time.time() * 1000 + TIMEOUT_S * 1000 + 50, out
        seen.append((rid, out))
    (rid1, first), (rid2, second) = seen
    assert rid1 != rid2
    # Warm: the same RIC process and module state served the second invoke.
    assert second["pid"] == first["pid"]
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert second["logStreamName"] == first["logStreamName"]
    # The RIC's own start-up line, then lemu's START/END/REPORT for each request id.
    ric.wait_for_line(lambda l: "Executing 'index.handler' in function directory '%s'" % ric.code_dir in l)
    for rid in (rid1, rid2):
        ric.wait_for_line(lambda l, rid=rid: "REPORT RequestId: %s" % rid in l)


def test_handler_exception_is_the_rics_error_document(ric):
    payload = b'{"why":"test"}'
    resp, rid, body = invoke(ric.client(), "ric-throws", payload)
    assert resp.get("FunctionError") == "Unhandled", body
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    doc = json.loads(body)
    # The RIC (Errors.toRapidResponse) posts {errorType: error.name, errorMessage, trace:
    # stack.split("\n")} to /runtime/invocation/{id}/error; lemu hands it to the caller unchanged.
    assert list(doc) == ["errorType", "errorMessage", "trace"], doc
    message = 'boom from the handler: {"why":"test"}'
    assert doc["errorType"] == "RicTestError"
    assert doc["errorMessage"] == message
    assert doc["trace"][0] == "RicTestError: " + message
    assert doc["trace"][1].startswith("    at ") and os.path.join(ric.code_dir, "index.js") in doc["trace"][1], doc
    assert all(line.startswith("    at ") for line in doc["trace"][1:]), doc
    # The RIC logs the failure itself, with the request id, in the managed runtimes' format.
    ric.wait_for_line(lambda l: rid in l and "\tERROR\tInvoke Error" in l and '"errorType":"RicTestError"' in l)
    # The environment survives a handler exception: the next invoke works.
    resp, _, body = invoke(ric.client(), "ric-throws", b'{"why":"again"}')
    assert resp.get("FunctionError") == "Unhandled"
    assert json.loads(body)["errorMessage"] == 'boom from the handler: {"why":"again"}'


@pytest.mark.parametrize("size", [1 << 20, INVOKE_LIMIT], ids=["1MiB", "6MiB-limit"])
def test_large_payload_round_trip(ric, size):
    # The RIC's native client (aws-lambda-cpp over libcurl) reads the whole event from /next and
    # POSTs the whole response: both directions at full size, byte for byte.
    payload = exact_json(size, seed=size)
    resp, _, body = invoke(ric.client(), "ric-echo", payload)
    assert "FunctionError" not in resp, body[:500]
    assert len(body) == size
    assert body == payload
