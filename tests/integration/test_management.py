"""The management API (issue 6): functions created, updated, published, throttled, tagged and
deleted through the unmodified AWS CLI and boto3, with AWS's shapes, states and error texts, kept
in the state directory across a restart, and code packages unpacked without ever writing outside
it. Expected texts are AWS's (reference §6/§7, seeds 001 and 002), never read back from lemu."""
import base64
import hashlib
import http.client
import io
import json
import os
import re
import stat
import time
import zipfile

import botocore.config
import botocore.exceptions
import pytest

from conftest import sample
from lemu_testlib import ACCOUNT, REGION, UUID_RE, arn, assert_json_error, run_cli

ROLE = "arn:aws:iam::%s:role/lambda-role" % ACCOUNT
PENDING_S = 0.4
LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
PENDING_TEXT = ("The operation cannot be performed at this time. The function is currently in the "
                "following state: Pending")
ENV_4KB_PREFIX = ("Lambda was unable to configure your environment variables because the environment "
                  "variables you have provided exceeded the 4KB limit. String measured: ")
ENV_RESERVED_TEXT = ("Lambda was unable to configure your environment variables because the environment "
                     "variables you have provided contains reserved keys that are currently not supported "
                     "for modification. Reserved keys used in this request: AWS_REGION")
CORRUPT_ZIP_TEXT = "Could not unzip uploaded file. Please check your file, then try to upload again."
UNRESERVED_TEXT = ("Specified ReservedConcurrentExecutions for function decreases account's "
                   "UnreservedConcurrentExecution below its minimum value of [100].")

HANDLER_V1 = "def handler(event, context):\n    return {'v': 1, 'event': event, 'version': context.function_version}\n"
HANDLER_V2 = "def handler(event, context):\n    return {'v': 2, 'event': event, 'version': context.function_version}\n"


def make_zip(files):
    """files: {name: text} or {name: (text, mode)}; returns the archive bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, spec in files.items():
            text, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


def symlink_zip(entries):
    """entries: list of (name, target_or_text, is_link)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data, is_link in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix, so the mode bits count
            info.external_attr = ((stat.S_IFLNK | 0o777) if is_link else (stat.S_IFREG | 0o644)) << 16
            z.writestr(info, data)
    return buf.getvalue()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def start(make_lemu, tmp_path, pending=PENDING_S, config=None):
    state = tmp_path / "state"
    return make_lemu(config=config if config is not None else {},
                     args=["--state-dir", str(state), "--pending-seconds", str(pending)])


def client(server, validate=True):
    if validate:
        return server.client()
    return server.client(parameter_validation=False)


def create(c, name, code=None, wait=True, **kw):
    params = dict(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                  Code={"ZipFile": code or make_zip({"app.py": HANDLER_V1})})
    params.update(kw)
    resp = c.create_function(**params)
    if wait:
        c.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return resp


def invoke_json(c, name, payload=None, **kw):
    resp = c.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    assert "FunctionError" not in resp, resp["Payload"].read()
    return resp, json.loads(resp["Payload"].read())


def cli(server, tmp_path, *args):
    out = run_cli(server, ["lambda"] + list(args) + ["--output", "json"], tmp_path)
    return out


def cli_json(server, tmp_path, *args):
    out = cli(server, tmp_path, *args)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout) if out.stdout.strip() else None


def raw_configuration(server, name):
    """GetFunctionConfiguration's JSON as sent, with the members older botocore models drop."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/2015-03-31/functions/%s/configuration" % name)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json", (resp.status, body)
    assert UUID_RE.match(resp.getheader("x-amzn-RequestId"))
    return json.loads(body)


def error_of(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def check_configuration(cfg, name, code, state, update, **expect):
    assert cfg["FunctionName"] == name
    assert cfg["FunctionArn"] == arn(name)
    assert cfg["Role"] == ROLE
    assert cfg["CodeSize"] == len(code)
    assert cfg["CodeSha256"] == sha256_b64(code)
    assert cfg["Version"] == "$LATEST"
    assert LAST_MODIFIED_RE.match(cfg["LastModified"]), cfg["LastModified"]
    assert UUID_RE.match(cfg["RevisionId"]), cfg["RevisionId"]
    assert cfg["PackageType"] == "Zip"
    assert cfg["Architectures"] == ["x86_64"]
    assert cfg["EphemeralStorage"] == {"Size": 512}
    assert cfg["TracingConfig"] == {"Mode": "PassThrough"}
    if "LoggingConfig" in cfg:  # newer botocore models only; raw_configuration() checks the wire
        assert cfg["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/" + name}
    assert cfg["State"] == state
    assert cfg["LastUpdateStatus"] == update
    if state == "Pending":
        assert cfg["StateReason"] == "The function is being created."
        assert cfg["StateReasonCode"] == "Creating"
    else:
        assert "StateReason" not in cfg
    if update == "InProgress":
        assert cfg["LastUpdateStatusReason"] == "The function is being created."
        assert cfg["LastUpdateStatusReasonCode"] == "Creating"
    else:
        assert "LastUpdateStatusReason" not in cfg
    for k, v in expect.items():
        assert cfg[k] == v, (k, cfg.get(k), v)


# ---------------------------------------------------------------------------------------
# the AWS CLI, end to end

def test_cli_function_lifecycle(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path)
    c = client(server)
    code1 = make_zip({"app.py": HANDLER_V1})
    code2 = make_zip({"app.py": HANDLER_V2})
    (tmp_path / "fn1.zip").write_bytes(code1)
    (tmp_path / "fn2.zip").write_bytes(code2)

    out = cli_json(server, tmp_path, "create-function", "--function-name", "cli-fn", "--runtime", "python3.12",
                   "--role", ROLE, "--handler", "app.handler", "--zip-file", "fileb://fn1.zip",
                   "--description", "made by the CLI", "--timeout", "5", "--memory-size", "256",
                   "--environment", "Variables={KEY=v}", "--tags", "team=core")
    check_configuration(out, "cli-fn", code1, "Pending", "InProgress", Runtime="python3.12",
                        Handler="app.handler", Description="made by the CLI", Timeout=5, MemorySize=256,
                        Environment={"Variables": {"KEY": "v"}})

    wire = raw_configuration(server, "cli-fn")
    assert wire["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/cli-fn"}
    assert wire["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert list(wire)[:4] == ["FunctionName", "FunctionArn", "Runtime", "Role"]
    wait = cli(server, tmp_path, "wait", "function-active-v2", "--function-name", "cli-fn")
    assert wait.returncode == 0, wait.stderr
    assert wait.stdout == ""

    out = cli_json(server, tmp_path, "invoke", "--function-name", "cli-fn", "--cli-binary-format",
                   "raw-in-base64-out", "--payload", '{"a": 1}', "out.json")
    assert out == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads((tmp_path / "out.json").read_text()) == {"v": 1, "event": {"a": 1}, "version": "$LATEST"}

    before = c.get_function(FunctionName="cli-fn")["Configuration"]
    out = cli_json(server, tmp_path, "update-function-code", "--function-name", "cli-fn", "--zip-file",
                   "fileb://fn2.zip")
    check_configuration(out, "cli-fn", code2, "Active", "InProgress", Timeout=5, MemorySize=256,
                        Description="made by the CLI")
    assert out["RevisionId"] != before["RevisionId"]
    wait = cli(server, tmp_path, "wait", "function-updated-v2", "--function-name", "cli-fn")
    assert wait.returncode == 0, wait.stderr
    cli_json(server, tmp_path, "invoke", "--function-name", "cli-fn", "--cli-binary-format",
             "raw-in-base64-out", "--payload", '{"b": 2}', "out2.json")
    assert json.loads((tmp_path / "out2.json").read_text())["v"] == 2

    out = cli_json(server, tmp_path, "update-function-configuration", "--function-name", "cli-fn",
                   "--timeout", "10", "--memory-size", "512", "--description", "reconfigured",
                   "--environment", "Variables={KEY=w,LANG=C}")
    check_configuration(out, "cli-fn", code2, "Active", "InProgress", Timeout=10, MemorySize=512,
                        Description="reconfigured", Environment={"Variables": {"KEY": "w", "LANG": "C"}})
    assert cli(server, tmp_path, "wait", "function-updated-v2", "--function-name", "cli-fn").returncode == 0

    # two more functions, then page through them one at a time
    create(c, "cli-b", wait=False)
    create(c, "cli-a", wait=False)
    out = cli_json(server, tmp_path, "list-functions")
    assert [f["FunctionName"] for f in out["Functions"]] == ["cli-a", "cli-b", "cli-fn"]
    listed = {f["FunctionName"]: f for f in out["Functions"]}
    check_configuration(listed["cli-fn"], "cli-fn", code2, "Active", "Successful", Timeout=10, MemorySize=512)
    names, token = [], None
    for _ in range(5):
        args = ["list-functions", "--max-items", "1"] + (["--starting-token", token] if token else [])
        page = cli_json(server, tmp_path, *args)
        assert len(page["Functions"]) == 1
        names.append(page["Functions"][0]["FunctionName"])
        token = page.get("NextToken")
        if not token:
            break
    assert names == ["cli-a", "cli-b", "cli-fn"]

    out = cli_json(server, tmp_path, "get-function", "--function-name", "cli-fn")
    check_configuration(out["Configuration"], "cli-fn", code2, "Active", "Successful", Timeout=10,
                        MemorySize=512, Description="reconfigured", Runtime="python3.12", Handler="app.handler",
                        Environment={"Variables": {"KEY": "w", "LANG": "C"}})
    assert out["Code"]["RepositoryType"] == "S3"
    assert out["Code"]["Location"]
    assert out["Tags"] == {"team": "core"}
    assert "Concurrency" not in out

    out = cli_json(server, tmp_path, "put-function-concurrency", "--function-name", "cli-fn",
                   "--reserved-concurrent-executions", "5")
    assert out == {"ReservedConcurrentExecutions": 5}
    out = cli_json(server, tmp_path, "get-function", "--function-name", "cli-fn")
    assert out["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    out = cli_json(server, tmp_path, "get-function-concurrency", "--function-name", "cli-fn")
    assert out == {"ReservedConcurrentExecutions": 5}
    settings = cli_json(server, tmp_path, "get-account-settings")
    assert settings["AccountLimit"] == {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                        "CodeSizeZipped": 52428800, "ConcurrentExecutions": 1000,
                                        "UnreservedConcurrentExecutions": 995}
    assert settings["AccountUsage"]["FunctionCount"] == 3

    out = cli(server, tmp_path, "delete-function", "--function-name", "cli-fn")
    assert out.returncode == 0 and out.stdout == "", (out.stdout, out.stderr)
    gone = cli(server, tmp_path, "get-function", "--function-name", "cli-fn")
    assert gone.returncode != 0
    assert "An error occurred (ResourceNotFoundException) when calling the GetFunction operation" in gone.stderr
    assert gone.stderr.strip().endswith(": Function not found: %s" % arn("cli-fn"))
    assert [f["FunctionName"] for f in cli_json(server, tmp_path, "list-functions")["Functions"]] == ["cli-a", "cli-b"]
    # its unpacked code went with it; the other two functions' code is all that is left
    assert len(os.listdir(tmp_path / "state" / "code")) == 2


# ---------------------------------------------------------------------------------------
# states and waiters

def test_invoke_and_update_during_pending_conflict(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path, pending=2.0)
    c = client(server)
    resp = create(c, "slow", wait=False)
    assert resp["State"] == "Pending"
    with pytest.raises(c.exceptions.ResourceConflictException) as e:
        c.invoke(FunctionName="slow", Payload=b"{}")
    assert error_of(e) == ("ResourceConflictException", PENDING_TEXT)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    with pytest.raises(c.exceptions.ResourceConflictException) as e:
        c.update_function_configuration(FunctionName="slow", Timeout=10)
    assert error_of(e) == ("ResourceConflictException", PENDING_TEXT)
    with pytest.raises(c.exceptions.ResourceConflictException) as e:
        c.update_function_code(FunctionName="slow", ZipFile=make_zip({"app.py": HANDLER_V2}))
    assert error_of(e) == ("ResourceConflictException", PENDING_TEXT)

    t0 = time.monotonic()
    c.get_waiter("function_active_v2").wait(FunctionName="slow", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assert time.monotonic() - t0 >= 1.0
    _, body = invoke_json(c, "slow", {"x": 1})
    assert body == {"v": 1, "event": {"x": 1}, "version": "$LATEST"}

    # an update: still Active and invocable, LastUpdateStatus InProgress, a second update refused
    resp = c.update_function_configuration(FunctionName="slow", Timeout=10, Environment={"Variables": {"KEY": "z"}})
    assert (resp["State"], resp["LastUpdateStatus"]) == ("Active", "InProgress")
    with pytest.raises(c.exceptions.ResourceConflictException) as e:
        c.update_function_configuration(FunctionName="slow", Timeout=11)
    assert error_of(e) == ("ResourceConflictException",
                           "The operation cannot be performed at this time. An update is in progress for "
                           "resource: %s" % arn("slow"))
    invoke_json(c, "slow")
    c.get_waiter("function_updated_v2").wait(FunctionName="slow", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    cfg = c.get_function_configuration(FunctionName="slow")
    assert (cfg["State"], cfg["LastUpdateStatus"], cfg["Timeout"]) == ("Active", "Successful", 10)


# ---------------------------------------------------------------------------------------
# validation: each error as botocore raises it, with AWS's text

def test_validation_errors(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path, pending=0)
    c = client(server)
    raw = client(server, validate=False)  # lets values below the model's minimum reach lemu
    create(c, "base")

    variables = {"A1": "uSFeY5cyPiPn7AtnX5BsM" * 200}
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "big-env", Environment={"Variables": variables}, wait=False)
    assert error_of(e) == ("InvalidParameterValueException",
                           ENV_4KB_PREFIX + json.dumps(variables, separators=(",", ":")))
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.update_function_configuration(FunctionName="base", Environment={"Variables": {"AB": "x" * 4090}})
    assert error_of(e)[1] == ENV_4KB_PREFIX + '{"AB":"%s"}' % ("x" * 4090)

    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "reserved-env", Environment={"Variables": {"AWS_REGION": "eu-west-1"}}, wait=False)
    assert error_of(e) == ("InvalidParameterValueException", ENV_RESERVED_TEXT)
    assert e.value.response["Error"]["Message"].startswith(
        "Lambda was unable to configure your environment variables because the environment variables you "
        "have provided contains reserved keys that are currently not supported for modification.")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(c, "bad-env-name", Environment={"Variables": {"MY-VAR": "x"}}, wait=False)
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value at 'environment.variables' failed to satisfy "
                           "constraint: Map keys must satisfy constraint: [Member must satisfy regular "
                           "expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")

    cases = [
        (dict(MemorySize=64), "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value "
                              "greater than or equal to 128"),
        (dict(MemorySize=10241), "Value '10241' at 'memorySize' failed to satisfy constraint: Member must have "
                                 "value less than or equal to 10240"),
        (dict(Timeout=0), "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater "
                          "than or equal to 1"),
        (dict(Timeout=901), "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less "
                            "than or equal to 900"),
    ]
    for kw, text in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            create(raw, "bad-limits", wait=False, **kw)
        assert error_of(e) == ("ValidationException", "1 validation error detected: " + text)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(botocore.exceptions.ClientError) as e:
            raw.update_function_configuration(FunctionName="base", **kw)
        assert error_of(e) == ("ValidationException", "1 validation error detected: " + text)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(raw, "two-bad", MemorySize=64, Timeout=901, wait=False)
    assert error_of(e) == ("ValidationException",
                           "2 validation errors detected: " + cases[3][1] + "; " + cases[0][1])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(c, "bad-role", Role="not-a-role", wait=False)
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: "
                           "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+")

    with pytest.raises(c.exceptions.ResourceConflictException) as e:
        create(c, "base", wait=False)
    assert error_of(e) == ("ResourceConflictException", "Function already exist: base")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "corrupt", code=b"PK\x03\x04 this is not really a zip file", wait=False)
    assert error_of(e) == ("InvalidParameterValueException", CORRUPT_ZIP_TEXT)
    truncated = make_zip({"app.py": HANDLER_V1 * 50})[:-30]
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.update_function_code(FunctionName="base", ZipFile=truncated)
    assert error_of(e) == ("InvalidParameterValueException", CORRUPT_ZIP_TEXT)

    for runtime in ("python2.7", "nodejs8.10", "cobol85"):
        with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
            create(c, "old-runtime", Runtime=runtime, wait=False)
        assert error_of(e) == ("InvalidParameterValueException",
                               "The runtime parameter of %s is no longer supported for creating or updating AWS "
                               "Lambda functions. We recommend you use a supported runtime while creating or "
                               "updating functions." % runtime)
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.update_function_configuration(FunctionName="base", Runtime="java21")
    assert error_of(e)[0] == "InvalidParameterValueException"
    assert error_of(e)[1].startswith("The runtime parameter of java21 is not supported by lemu")

    # concurrency: the account keeps at least 100 unreserved (limit 1000)
    create(c, "other")
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.put_function_concurrency(FunctionName="base", ReservedConcurrentExecutions=901)
    assert error_of(e) == ("InvalidParameterValueException", UNRESERVED_TEXT)
    assert c.put_function_concurrency(FunctionName="base", ReservedConcurrentExecutions=500)[
        "ReservedConcurrentExecutions"] == 500
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        c.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=401)
    assert error_of(e) == ("InvalidParameterValueException", UNRESERVED_TEXT)
    c.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=400)
    assert c.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    c.delete_function_concurrency(FunctionName="other")
    assert c.get_function_concurrency(FunctionName="other").get("ReservedConcurrentExecutions") is None

    # UpdateFunctionConfiguration bodies are limited to 5120 bytes (seed 001)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.update_function_configuration(FunctionName="base", Environment={"Variables": {
            "V%d" % i: "y" * 100 for i in range(50)}})
    assert error_of(e) == ("RequestEntityTooLargeException",
                           "Request must be smaller than 5120 bytes for the UpdateFunctionConfiguration operation")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413

    with pytest.raises(c.exceptions.ResourceNotFoundException) as e:
        c.get_function(FunctionName="nope")
    assert error_of(e) == ("ResourceNotFoundException", "Function not found: " + arn("nope"))
    with pytest.raises(c.exceptions.ResourceNotFoundException) as e:
        c.invoke(FunctionName="base", Qualifier="7", Payload=b"{}")
    assert error_of(e) == ("ResourceNotFoundException", "Function not found: " + arn("base", "7"))
    # nothing refused above left a function or a code directory behind
    assert sorted(f["FunctionName"] for f in c.list_functions()["Functions"]) == ["base", "other"]
    assert len(os.listdir(tmp_path / "state" / "code")) == 2


def test_zip_over_50_mb_is_request_entity_too_large(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path, pending=0)
    c = server.client(read_timeout=120)
    create(c, "big")
    blob = os.urandom(52428800 + 1)  # 50 MB + 1 byte: its base64 still fits the request limit
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.update_function_code(FunctionName="big", ZipFile=blob)
    assert error_of(e) == ("RequestEntityTooLargeException",
                           "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(botocore.exceptions.ClientError) as e:  # beyond the request limit itself
        create(c, "bigger", code=blob + os.urandom(300000), wait=False)
    assert error_of(e) == ("RequestEntityTooLargeException",
                           "Request must be smaller than 70167211 bytes for the CreateFunction operation")
    assert [f["FunctionName"] for f in c.list_functions()["Functions"]] == ["big"]


# ---------------------------------------------------------------------------------------
# versions, aliases, policy, tags

def test_versions_aliases_policy_tags(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path)
    c = client(server)
    create(c, "ver")
    v1 = c.publish_version(FunctionName="ver", Description="first")
    assert (v1["Version"], v1["FunctionArn"], v1["Description"], v1["State"]) == ("1", arn("ver", "1"), "first", "Active")
    assert c.publish_version(FunctionName="ver")["Version"] == "1"  # nothing changed: the same version
    c.update_function_code(FunctionName="ver", ZipFile=make_zip({"app.py": HANDLER_V2}))
    c.get_waiter("function_updated_v2").wait(FunctionName="ver", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    v2 = c.publish_version(FunctionName="ver")
    assert v2["Version"] == "2" and v2["CodeSha256"] != v1["CodeSha256"]

    resp, body = invoke_json(c, "ver", Qualifier="1")
    assert resp["ExecutedVersion"] == "1" and body["v"] == 1 and body["version"] == "1"
    resp, body = invoke_json(c, "ver:2")
    assert resp["ExecutedVersion"] == "2" and body["v"] == 2
    resp, body = invoke_json(c, "ver")
    assert resp["ExecutedVersion"] == "$LATEST" and body["v"] == 2

    alias = c.create_alias(FunctionName="ver", Name="live", FunctionVersion="1")
    assert (alias["AliasArn"], alias["FunctionVersion"]) == (arn("ver", "live"), "1")
    resp, body = invoke_json(c, "ver", Qualifier="live")
    assert resp["ExecutedVersion"] == "1" and body["v"] == 1
    c.update_alias(FunctionName="ver", Name="live", FunctionVersion="2")
    resp, body = invoke_json(c, "ver:live")
    assert resp["ExecutedVersion"] == "2"
    assert [a["Name"] for a in c.list_aliases(FunctionName="ver")["Aliases"]] == ["live"]
    versions = c.list_versions_by_function(FunctionName="ver")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    everything = c.list_functions(FunctionVersion="ALL")["Functions"]
    assert [f["FunctionArn"] for f in everything] == [arn("ver"), arn("ver", "1"), arn("ver", "2")]
    c.delete_function(FunctionName="ver", Qualifier="1")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function(FunctionName="ver", Qualifier="1")

    stmt = json.loads(c.add_permission(FunctionName="ver", StatementId="s3", Action="lambda:InvokeFunction",
                                       Principal="s3.amazonaws.com",
                                       SourceArn="arn:aws:s3:::bucket")["Statement"])
    assert stmt == {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "lambda:InvokeFunction", "Resource": arn("ver"),
                    "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.add_permission(FunctionName="ver", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    policy = json.loads(c.get_policy(FunctionName="ver")["Policy"])
    assert policy["Statement"] == [stmt] and policy["Version"] == "2012-10-17"
    c.remove_permission(FunctionName="ver", StatementId="s3")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_policy(FunctionName="ver")

    c.tag_resource(Resource=arn("ver"), Tags={"a": "1", "b": "2"})
    assert c.list_tags(Resource=arn("ver"))["Tags"] == {"a": "1", "b": "2"}
    c.untag_resource(Resource=arn("ver"), TagKeys=["a"])
    assert c.list_tags(Resource=arn("ver"))["Tags"] == {"b": "2"}
    assert c.get_function(FunctionName="ver")["Tags"] == {"b": "2"}
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.list_tags(Resource=arn("missing"))


def test_local_directory_code_extension(make_lemu, tmp_path):
    code = tmp_path / "local-code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return open('msg.txt').read()\n")
    (code / "msg.txt").write_text("first")
    server = start(make_lemu, tmp_path, pending=0)
    c = client(server)
    resp = create(c, "local", Code={"S3Bucket": "lemu-local", "S3Key": str(code)})
    assert resp["State"] == "Active"
    _, body = invoke_json(c, "local")
    assert body == "first"
    (code / "msg.txt").write_text("edited")  # no re-upload
    _, body = invoke_json(c, "local")
    assert body == "edited"
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "s3", Code={"S3Bucket": "my-bucket", "S3Key": "fn.zip"}, wait=False)
    assert error_of(e)[1] == ("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
                              "The specified bucket does not exist")
    with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
        create(c, "s3", Code={"S3Bucket": "lemu-local", "S3Key": str(tmp_path / "nowhere")}, wait=False)
    assert error_of(e)[1] == ("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
                              "The specified key does not exist.")
    c.delete_function(FunctionName="local")
    assert (code / "app.py").exists()  # a local directory is the user's: never deleted


# ---------------------------------------------------------------------------------------
# persistence

def test_state_survives_restart(make_lemu, tmp_path):
    first = start(make_lemu, tmp_path)
    c = client(first)
    create(c, "keep", Tags={"owner": "me"}, Environment={"Variables": {"KEY": "v"}}, Description="kept")
    c.publish_version(FunctionName="keep")
    c.create_alias(FunctionName="keep", Name="live", FunctionVersion="1")
    c.put_function_concurrency(FunctionName="keep", ReservedConcurrentExecutions=7)
    c.add_permission(FunctionName="keep", StatementId="any", Action="lambda:InvokeFunction", Principal="123456789012")
    create(c, "gone")
    c.delete_function(FunctionName="gone")
    before = c.get_function(FunctionName="keep")
    first.stop()

    second = start(make_lemu, tmp_path)
    c = client(second)
    after = c.get_function(FunctionName="keep")
    for key in ("CodeSha256", "CodeSize", "RevisionId", "LastModified", "Environment", "Description",
                "Timeout", "MemorySize", "Role", "Runtime", "Handler"):
        assert after["Configuration"][key] == before["Configuration"][key], key
    assert (after["Configuration"]["State"], after["Configuration"]["LastUpdateStatus"]) == ("Active", "Successful")
    assert after["Tags"] == {"owner": "me"}
    assert after["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    assert [f["FunctionName"] for f in c.list_functions()["Functions"]] == ["keep"]
    resp, body = invoke_json(c, "keep", Qualifier="live")
    assert resp["ExecutedVersion"] == "1" and body["version"] == "1"
    _, body = invoke_json(c, "keep")
    assert body["v"] == 1
    stmt = json.loads(c.get_policy(FunctionName="keep")["Policy"])["Statement"][0]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert c.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 993
    assert len(os.listdir(tmp_path / "state" / "code")) == 1


def test_config_function_wins_a_name_clash(make_lemu, tmp_path):
    first = start(make_lemu, tmp_path)
    create(client(first), "echo")
    first.stop()
    config = {"Functions": [{"FunctionName": "echo", "Runtime": "provided.al2023", "Handler": "echo",
                             "CodeUri": sample("echo")}]}
    second = start(make_lemu, tmp_path, config=config)
    c = client(second)
    assert c.get_function(FunctionName="echo")["Configuration"]["Runtime"] == "provided.al2023"
    resp = c.invoke(FunctionName="echo", Payload=b'{"same": "bytes"}')
    assert resp["Payload"].read() == b'{"same": "bytes"}'
    assert "config wins" in second.stderr_text()
    assert "function echo: the config file" in second.stderr_text()
    assert len(os.listdir(tmp_path / "state" / "code")) == 1  # the shadowed function's code is kept


def test_config_architectures_are_what_get_function_reports(make_lemu, tmp_path):
    echo = {"Runtime": "provided.al2023", "Handler": "echo", "CodeUri": sample("echo")}
    config = {"Functions": [dict(echo, FunctionName="arm", Architectures=["arm64"]),
                            dict(echo, FunctionName="intel", Architectures=["x86_64"]),
                            dict(echo, FunctionName="unsaid")]}
    c = client(start(make_lemu, tmp_path, config=config))
    for name, arch in (("arm", "arm64"), ("intel", "x86_64"), ("unsaid", "x86_64")):
        assert c.get_function_configuration(FunctionName=name)["Architectures"] == [arch], name
    listed = {f["FunctionName"]: f["Architectures"] for f in c.list_functions()["Functions"]}
    assert listed == {"arm": ["arm64"], "intel": ["x86_64"], "unsaid": ["x86_64"]}
    version = c.publish_version(FunctionName="arm")
    assert version["Architectures"] == ["arm64"]
    # the code runs natively: the architecture is reported, not emulated
    assert c.invoke(FunctionName="arm", Payload=b'{"a": 1}')["Payload"].read() == b'{"a": 1}'


# ---------------------------------------------------------------------------------------
# code packages that try to escape

def tree(root, skip):
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.abspath(dirpath).startswith(os.path.abspath(skip)):
            continue
        for n in dirnames + filenames:
            out.add(os.path.join(dirpath, n))
    return out


def test_zip_slip_is_refused_and_writes_nothing_outside(make_lemu, tmp_path):
    server = start(make_lemu, tmp_path, pending=0)
    c = client(server)
    state = tmp_path / "state"
    evil_archives = {
        "dotdot": make_zip({"app.py": HANDLER_V1, "../../../evil.txt": "owned"}),
        "deep-dotdot": make_zip({"app.py": HANDLER_V1, "pkg/../../../../evil.txt": "owned"}),
        "absolute": make_zip({"app.py": HANDLER_V1, "/tmp/lemu-zip-slip-evil.txt": "owned"}),
        "backslash": make_zip({"app.py": HANDLER_V1, "..\\..\\..\\evil.txt": "owned"}),
        "link-out": symlink_zip([("app.py", HANDLER_V1, False), ("escape", "../../../..", True)]),
        "link-abs": symlink_zip([("app.py", HANDLER_V1, False), ("passwd", "/etc/passwd", True)]),
        "write-through-link": symlink_zip([("d", "../..", True), ("d/evil.txt", "owned", False)]),
        "link-chain": symlink_zip([("a/b", "..", True), ("a/c", "b/../../..", True)]),
    }
    before = tree(tmp_path, state)
    for name, data in evil_archives.items():
        with pytest.raises(c.exceptions.InvalidParameterValueException) as e:
            create(c, "evil-" + name, code=data, wait=False)
        assert error_of(e) == ("InvalidParameterValueException", CORRUPT_ZIP_TEXT), name
    assert tree(tmp_path, state) == before
    assert not (tmp_path / "evil.txt").exists()
    assert not os.path.exists("/tmp/lemu-zip-slip-evil.txt")
    assert os.listdir(state / "code") == []  # refused packages leave nothing behind either
    assert c.list_functions()["Functions"] == []
    assert "refused the code package for evil-dotdot" in server.stderr_text()

    # links that stay inside the tree are fine
    ok = symlink_zip([("lib/real.py", "X = 1\n", False), ("lib/alias.py", "real.py", True),
                      ("app.py", "from lib import alias\ndef handler(e, c):\n    return alias.X\n", False)])
    create(c, "inside", code=ok)
    assert invoke_json(c, "inside")[1] == 1


# ---------------------------------------------------------------------------------------
# anything else under the API answers in AWS's JSON error format

@pytest.mark.parametrize("method,path", [
    ("GET", "/2015-03-31/functions/x/nonsense"),
    ("POST", "/2021-10-31/functions/x/url"),
    ("PATCH", "/2015-03-31/functions/x"),
    ("GET", "/2099-01-01/whatever"),
    ("GET", "/"),
])
def test_unknown_operations_answer_as_aws(make_lemu, tmp_path, method, path):
    server = start(make_lemu, tmp_path)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=b"{}", headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    doc = assert_json_error(resp.status, headers, body, expect_status=404)
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert not body.lstrip().startswith(b"<")
    assert doc["Type"] == "User"
