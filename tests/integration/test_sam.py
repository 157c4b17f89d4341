"""AWS SAM templates as configuration (issue 13): `lemu serve --template template.yaml`.

Three templates written for this project in the shape of the AWS SAM examples (tests/integration/
sam/): a hello-world Python function behind a REST API, a Node.js service with Globals, Parameters,
Conditions and !Sub, and an async worker whose EventInvokeConfig destinations are !GetAtt of a
function and of an SQS queue. Each is served, invoked through boto3 and (where it has routes)
through the API Gateway front. Bad templates exit with status 2 and one line naming the resource,
the property and the reason.
"""
import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

from conftest import LEMU_BIN

SAM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sam")
FRONT_RE = re.compile(r"lemu: api gateway front on http://127\.0\.0\.1:(\d+)")
REGION, ACCOUNT = "us-east-1", "123456789012"


def template(name):
    return os.path.join(SAM_DIR, name, "template.yaml")


def serve(make_lemu, tmp_path, name, *extra):
    return make_lemu(config=None, args=["--template", template(name), "--state-dir", str(tmp_path / "state"),
                                        "--api-listen", "127.0.0.1:0"] + list(extra))


def front_port(server, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = FRONT_RE.search(server.stderr_text())
        if m:
            return int(m.group(1))
        time.sleep(0.02)
    raise AssertionError("no api gateway front line; stderr:\n" + server.stderr_text())


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def invoke(client, name, payload):
    r = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    return r, json.loads(r["Payload"].read())


def control(server, path):
    status, body = http_get(server.port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def run_bad(tmp_path, text, *extra, files=None):
    """Serve a template that must not load: returns lemu's stderr after asserting exit status 2."""
    path = tmp_path / "template.yaml"
    path.write_text(text)
    for rel, content in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    p = subprocess.run([LEMU_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "state"),
                        "--template", str(path)] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert p.stdout == b"", p.stdout
    assert "Sanitizer" not in err, err
    return err


# ---------------------------------------------------------------------------------------
# hello-world (Python, Api event)

def test_hello_world_through_boto3_and_the_rest_api(make_lemu, tmp_path):
    s = serve(make_lemu, tmp_path, "hello-world")
    c = s.client()
    conf = c.get_function_configuration(FunctionName="HelloWorldFunction")
    assert conf["Runtime"] == "python3.12"
    assert conf["Handler"] == "app.lambda_handler"
    assert conf["Timeout"] == 3 and conf["MemorySize"] == 128       # from Globals.Function
    assert conf["FunctionArn"] == "arn:aws:lambda:%s:%s:function:HelloWorldFunction" % (REGION, ACCOUNT)
    r, out = invoke(c, "HelloWorldFunction", {"path": "/direct"})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert out["statusCode"] == 200
    assert json.loads(out["body"]) == {"message": "hello world", "memory": "128", "path": "/direct"}

    port = front_port(s)
    status, body = http_get(port, "/hello")
    assert status == 200, body
    assert json.loads(body) == {"message": "hello world", "memory": "128", "path": "/hello"}
    status, _ = http_get(port, "/nothing-here")
    assert status == 403   # REST API: Missing Authentication Token


# ---------------------------------------------------------------------------------------
# Node.js: Globals, Parameters, Conditions, !Sub, HttpApi, timeout

def test_node_template_defaults(make_lemu, tmp_path):
    s = serve(make_lemu, tmp_path, "node-greeter")
    c = s.client()
    names = sorted(f["FunctionName"] for f in c.list_functions()["Functions"])
    assert names == ["SlowFunction", "greeter-dev"]     # !Sub FunctionName; logical id otherwise
    conf = c.get_function_configuration(FunctionName="greeter-dev")
    assert conf["Runtime"] == "nodejs20.x" and conf["Handler"] == "index.handler"   # Globals
    assert conf["Timeout"] == 10
    assert conf["MemorySize"] == 512                     # !If [IsProd, 1024, 512]
    assert conf["Description"] == "Greets in %s for account %s" % (REGION, ACCOUNT)
    assert conf["Environment"]["Variables"] == {
        "STAGE": "dev", "SERVICE": "greeter", "GREETING": "Hello", "TABLE": "lemu-table",
        "SELF_ARN": "arn:aws:lambda:%s:%s:function:greeter-dev" % (REGION, ACCOUNT)}
    assert c.get_function_concurrency(FunctionName="greeter-dev")["ReservedConcurrentExecutions"] == 2
    slow = c.get_function_configuration(FunctionName="SlowFunction")
    assert slow["Timeout"] == 1 and slow["MemorySize"] == 256   # Number parameter; Globals

    r, out = invoke(c, "greeter-dev", {"name": "boto3"})
    body = json.loads(out["body"])
    assert body["greeting"] == "Hello, boto3!" and body["stage"] == "dev" and body["memory"] == "512"
    assert body["functionName"] == "greeter-dev"

    status, raw = http_get(front_port(s), "/greet/front")
    assert status == 200, raw
    assert json.loads(raw)["greeting"] == "Hello, front!"

    r, out = invoke(c, "SlowFunction", {"sleep": 0})
    assert out == {"slept": 0}
    r, out = invoke(c, "SlowFunction", {"sleep": 3})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout"
    assert out["errorMessage"].endswith("Task timed out after 1.00 seconds"), out


def test_node_template_parameter_overrides(make_lemu, tmp_path):
    s = serve(make_lemu, tmp_path, "node-greeter", "--parameter-overrides", "Stage=prod",
              "ParameterKey=Greeting,ParameterValue=Howdy", "SlowTimeout=2")
    c = s.client()
    conf = c.get_function_configuration(FunctionName="greeter-prod")
    assert conf["MemorySize"] == 1024
    assert conf["Environment"]["Variables"]["STAGE"] == "prod"
    assert c.get_function_concurrency(FunctionName="greeter-prod")["ReservedConcurrentExecutions"] == 10
    assert c.get_function_configuration(FunctionName="SlowFunction")["Timeout"] == 2
    status, raw = http_get(front_port(s), "/greet/you")
    assert status == 200 and json.loads(raw)["greeting"] == "Howdy, you!"


def test_parameter_override_must_be_allowed(tmp_path):
    p = subprocess.run([LEMU_BIN, "serve", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path / "s"),
                        "--template", template("node-greeter"), "--parameter-overrides", "Stage=qa"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 2
    assert "Parameters.Stage: expected one of its AllowedValues, got \"qa\"" in p.stderr.decode()


# ---------------------------------------------------------------------------------------
# async: EventInvokeConfig destinations by !GetAtt

def test_async_destinations_by_getatt(make_lemu, tmp_path):
    record = tmp_path / "failures.jsonl"
    s = serve(make_lemu, tmp_path, "async-destinations", "--parameter-overrides", "RecordFile=%s" % record)
    c = s.client()
    cfg = c.get_function_event_invoke_config(FunctionName="WorkerFunction")
    assert cfg["MaximumRetryAttempts"] == 0 and cfg["MaximumEventAgeInSeconds"] == 600
    success_arn = "arn:aws:sqs:%s:%s:lemu-worker-success" % (REGION, ACCOUNT)
    failure_arn = "arn:aws:lambda:%s:%s:function:OnFailureFunction" % (REGION, ACCOUNT)
    assert cfg["DestinationConfig"] == {"OnSuccess": {"Destination": success_arn},
                                        "OnFailure": {"Destination": failure_arn}}
    dlq_arn = "arn:aws:sqs:%s:%s:DeadLetters" % (REGION, ACCOUNT)   # DeadLetterQueue: !GetAtt

    r = c.invoke(FunctionName="WorkerFunction", InvocationType="Event", Payload=b'{"id": "bad", "fail": true}')
    assert r["StatusCode"] == 202
    rid = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    lines = wait_until(lambda: record.exists() and record.read_text().splitlines(), 20, "the OnFailure record")
    rec = json.loads(lines[0])
    assert rec["requestContext"]["requestId"] == rid
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestPayload"] == {"id": "bad", "fail": True}
    assert rec["responsePayload"]["errorMessage"] == "cannot work on bad"
    dlq = "/lemu/v1/destinations?arn=" + urllib.parse.quote(dlq_arn, safe="")
    [dl] = wait_until(lambda: control(s, dlq)["Records"], 20, "the dead letter")
    assert json.loads(dl["Body"]) == {"id": "bad", "fail": True}

    r = c.invoke(FunctionName="WorkerFunction", InvocationType="Event", Payload=b'{"id": "good"}')
    assert r["StatusCode"] == 202
    q = "/lemu/v1/destinations?arn=" + urllib.parse.quote(success_arn, safe="")
    [entry] = wait_until(lambda: control(s, q)["Records"], 20, "the OnSuccess record")
    assert json.dumps(entry).count('"done": "good"') == 1, entry


# ---------------------------------------------------------------------------------------
# -c together with --template

def test_config_file_gives_settings_and_functions_clash(make_lemu, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("def handler(e, c):\n    return 'from json'\n")
    config = {"Account": {"Region": "eu-west-1", "AccountId": "111122223333"},
              "Functions": [{"FunctionName": "fromjson", "Runtime": "python3.12", "Handler": "app.handler",
                             "CodeUri": str(tmp_path / "code")}]}
    s = make_lemu(config=config, args=["--template", template("node-greeter"), "--state-dir",
                                       str(tmp_path / "state"), "--api-listen", "127.0.0.1:0"])
    c = s.client()
    names = sorted(f["FunctionName"] for f in c.list_functions()["Functions"])
    assert names == ["SlowFunction", "fromjson", "greeter-dev"]
    env = c.get_function_configuration(FunctionName="greeter-dev")["Environment"]["Variables"]
    assert env["SELF_ARN"] == "arn:aws:lambda:eu-west-1:111122223333:function:greeter-dev"
    assert invoke(c, "fromjson", {})[1] == "from json"

    config["Functions"][0]["FunctionName"] = "SlowFunction"
    (tmp_path / "clash.json").write_text(json.dumps(config))
    p = subprocess.run([LEMU_BIN, "serve", "--listen", "127.0.0.1:0", "-c", str(tmp_path / "clash.json"),
                        "--template", template("node-greeter")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=20)
    assert p.returncode == 2
    assert "Resources.SlowFunction.Properties.FunctionName: expected a unique name, got \"SlowFunction\" a " \
           "second time" in p.stderr.decode()


# ---------------------------------------------------------------------------------------
# inline code

def test_inline_code_of_both_resource_types(make_lemu, tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("""
Resources:
  PyInline:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"py": event}
  NodeZip:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Role: !ImportValue some-exported-role
      Timeout: "7"
      Code:
        ZipFile: |
          exports.handler = async (event) => ({node: event});
""")
    s = make_lemu(config=None, args=["--template", str(path), "--state-dir", str(tmp_path / "state")])
    c = s.client()
    assert invoke(c, "PyInline", {"a": 1})[1] == {"py": {"a": 1}}
    assert invoke(c, "NodeZip", {"b": 2})[1] == {"node": {"b": 2}}
    assert c.get_function_configuration(FunctionName="NodeZip")["Timeout"] == 7
    assert (tmp_path / "state" / "sam-inline" / "NodeZip" / "index.js").exists()


# ---------------------------------------------------------------------------------------
# templates that must not load

FN = """
Resources:
  Bad:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: code/
%s
"""
CODE = {"code/app.py": "def handler(e, c):\n    return 1\n"}


@pytest.mark.parametrize("props, expected", [
    ("      Timeout: !ImportValue shared-timeout",
     "Resources.Bad.Properties.Timeout: cannot resolve !ImportValue: lemu does not evaluate it"),
    ("      Timeout: !Ref Missing",
     "Resources.Bad.Properties.Timeout: cannot resolve !Ref Missing: no parameter, pseudo parameter or "
     "resource is named Missing"),
    ("      Timeout: 1000",
     "Resources.Bad.Properties.Timeout: expected an integer from 1 to 900, got 1000"),
    ("      MemorySize: !If [Nope, 128, 256]",
     "Resources.Bad.Properties.MemorySize: cannot resolve condition Nope: no entry of that name under "
     "Conditions"),
    ("      Description: !Sub '${Table.Arn}'\n  Table:\n    Type: AWS::DynamoDB::Table",
     "Resources.Bad.Properties.Description: cannot resolve ${Table.Arn} in !Sub: attribute Arn of a "
     "AWS::DynamoDB::Table resource is only known once deployed"),
    ("      EventInvokeConfig:\n        MaximumRetryAttempts: 5",
     "Resources.Bad.Properties.EventInvokeConfig.MaximumRetryAttempts: expected an integer from 0 to 2, got 5"),
    ("      Events:\n        Root:\n          Type: Api\n          Properties:\n            Path: nope\n"
     "            Method: get",
     "Resources.Bad.Properties.Events.Root.Properties.Path: expected a path such as"),
])
def test_bad_template_exits_2_naming_resource_property_reason(tmp_path, props, expected):
    err = run_bad(tmp_path, FN % props, files=CODE)
    assert err.startswith("lemu: %s: " % (tmp_path / "template.yaml")), err
    assert expected in err, err


def test_s3_code_and_missing_parameter_value(tmp_path):
    err = run_bad(tmp_path, FN.replace("CodeUri: code/", "CodeUri: s3://bucket/key.zip") % "")
    assert "Resources.Bad.Properties.CodeUri: expected a local folder (relative to the template), got an " \
           "S3 location" in err
    err = run_bad(tmp_path, "Parameters:\n  Size:\n    Type: Number\n" + FN % "      MemorySize: !Ref Size",
                  files=CODE)
    assert "Resources.Bad.Properties.MemorySize: cannot resolve !Ref Size: parameter Size has no Default and " \
           "no --parameter-overrides value" in err
    err = run_bad(tmp_path, FN % "", "--parameter-overrides", "Nope=1", files=CODE)
    assert "--parameter-overrides: expected the name of one of the template's Parameters, got \"Nope\"" in err


def test_yaml_syntax_error_names_the_line(tmp_path):
    err = run_bad(tmp_path, "Resources:\n  Bad:\n    Type: [unclosed\n")
    assert re.search(r"template\.yaml: line \d+ column \d+: expected valid YAML", err), err
