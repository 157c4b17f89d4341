"""An example test suite using lemu_pytest's fixtures: copy what you need.

Run it (from the repository) with:  PYTHONPATH=python pytest -p lemu_pytest python/examples
or, after `pip install ./python`:   pytest python/examples
"""
import json
import os

import pytest
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))


def invoke(client, name, event):
    resp = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return resp, json.loads(resp["Payload"].read())


def test_invoke_returns_the_handlers_answer(lambda_client):
    resp, body = invoke(lambda_client, "greet", {"name": "Ada"})
    assert resp["StatusCode"] == 200
    assert "FunctionError" not in resp
    assert body == {"greeting": "hello, Ada"}


def test_a_handler_exception_is_a_function_error(lambda_client):
    resp, body = invoke(lambda_client, "greet", {})
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "no name in the event"


def test_injected_throttle_on_the_second_call(lemu_server, lambda_client):
    rule = lemu_server.fault("throttle", function="greet", when={"Nth": [2]})
    invoke(lambda_client, "greet", {"name": "first"})
    with pytest.raises(ClientError) as err:
        invoke(lambda_client, "greet", {"name": "second"})
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    invoke(lambda_client, "greet", {"name": "third"})
    assert [f["Fired"] for f in lemu_server.faults() if f["Id"] == rule] == [1]


def test_the_function_log_has_the_handlers_output(lemu_server, lambda_client):
    resp, _ = invoke(lambda_client, "greet", {"name": "Grace"})
    rid = resp["ResponseMetadata"]["RequestId"]
    line = lemu_server.wait_for_log("REPORT RequestId: " + rid, function="greet")
    assert "Duration:" in line
    assert "greeting Grace" in lemu_server.logs(function="greet")


def test_timeout(lambda_client):
    resp, body = invoke(lambda_client, "nap", 3)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"


@pytest.mark.lemu(config={"Functions": [{"FunctionName": "tight", "Runtime": "python3.12",
                                         "Handler": "app.handler", "CodeUri": os.path.join(HERE, "functions", "nap"),
                                         "Timeout": 2, "ReservedConcurrentExecutions": 0}]})
def test_a_config_per_test_with_the_lemu_marker(lambda_client):
    """ReservedConcurrentExecutions 0: every invoke is throttled, as on AWS."""
    with pytest.raises(ClientError) as err:
        invoke(lambda_client, "tight", 0)
    assert err.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_two_servers_at_once(lemu_factory):
    a = lemu_factory(functions_dir=os.path.join(HERE, "functions"))
    b = lemu_factory(functions_dir=os.path.join(HERE, "functions"))
    assert a.url != b.url
    for server in (a, b):
        _, body = invoke(server.lambda_client(), "greet", {"name": server.url})
        assert body == {"greeting": "hello, " + server.url}
