#!/usr/bin/env python3
"""Writes the committed seed corpora of the libFuzzer targets: tests/fuzz/<target>/corpus/.

Seeds are small, valid-or-nearly-valid inputs that reach deep into each parser (libFuzzer mutates
from them); every known tricky case found so far is kept here too. Re-running this script
rewrites the same files (names are content hashes), so it is safe to run any time:
    python3 tests/fuzz/make_seeds.py
"""
import base64
import hashlib
import io
import json
import os
import stat
import warnings
import zipfile

warnings.filterwarnings("ignore", "Duplicate name")

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    """entries: (name, data, mode) with mode like stat.S_IFREG | 0o644 or S_IFLNK | 0o777."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            info.create_system = 3  # unix
            info.compress_type = compression
            z.writestr(info, data)
    return buf.getvalue()


REG, EXE, LNK, DIR = stat.S_IFREG | 0o644, stat.S_IFREG | 0o755, stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755

ZIPS = [
    [("bootstrap", b"#!/bin/sh\necho hi\n", EXE), ("lib/util.py", b"x = 1\n", REG)],
    [("app.py", b"def handler(e, c):\n    return e\n", REG)],
    [("dir/", b"", DIR), ("dir/a.txt", b"a" * 100, REG)],
    [("lib/real.txt", b"real", REG), ("link", b"lib/real.txt", LNK)],
    [("link", b"../outside", LNK)],
    [("link", b"/etc/passwd", LNK)],
    [("a", b"b", LNK), ("b", b"a", LNK)],
    [("d", b".", LNK), ("d/x", b"through a link", REG)],
    [("../evil", b"x", REG)],
    [("/abs", b"x", REG)],
    [("dir\\..\\..\\evil", b"x", REG)],
    [("same", b"one", REG), ("same", b"two", REG)],
    [("file", b"x", REG), ("file/inner", b"y", REG)],
    [("zeros", b"\0" * 65536, REG)],
    [],
]


def seeds_zip():
    for entries in ZIPS:
        put("code_package", zip_bytes(entries))
    put("code_package", zip_bytes(ZIPS[0], zipfile.ZIP_STORED))
    put("code_package", b"PK\x05\x06" + b"\0" * 18)  # empty archive, end record only
    put("code_package", b"not a zip")


def seeds_arn():
    for s in ["echo", "echo:$LATEST", "echo:1", "echo:prod-alias_2", "my.fn-name_1",
              "123456789012:function:echo", "123456789012:function:echo:v1",
              "arn:aws:lambda:us-east-1:123456789012:function:echo",
              "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST",
              "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST.PUBLISHED",
              "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f",
              "arn:aws-iso-b:lambda:us-isob-east-1:123456789012:function:f:7",
              "arn:aws:lambda:eu-central-1:123456789012:function:a:b:c",
              "function:echo", ":", "echo:", ":echo", "$LATEST", "a" * 64, "a" * 65, "x" * 171,
              "arn:aws:lambda:us-east-1:12345678901:function:echo", "echo:bad.qualifier"]:
        put("arn", s)


def seeds_json():
    for s in ["{}", "[]", '"abc"', "1.5e10", "-0", "true", "null", " \n\t{} trailing",
              '{"a":[1,2,{"b":null}],"c":"\\u00e9\\n"}', '"\xc3\xa9\xe2\x9c\x93"', "\ufeff{}",
              "abc", "{", "[1,]", '{"a" 1}', '"\\u12"', "01", "1.", "-", "+1", "NaN", "/* c */{}",
              '{"a":1,}', "[" * 200 + "]" * 200, '"\x01"', "\xff\xfe", '{"\xff":1}', "tru", "nul",
              "1e", "[1 2]", '{"a":"b"}}', "'single'", "\t", ""]:
        put("json_check", s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s)
    put("json_check", b'"\xff\xfe\x80"')
    put("json_check", b'{"k":"\xed\xa0\x80"}')


def seeds_base64():
    for raw in [b"", b"f", b"fo", b"foo", b"foobar", bytes(range(256))]:
        put("base64", base64.b64encode(raw))
    for s in ["AB==", "A===", "====", "AAA=", "Zg", "Zm9v\n", "Zm9v!A==", "////", "+/+/"]:
        put("base64", s)


FN = {"FunctionName": "echo", "Runtime": "provided.al2023", "Handler": "echo", "CodeUri": "code",
      "Timeout": 3, "MemorySize": 128}


def seeds_config():
    full = {
        "Listen": "127.0.0.1:9001",
        "Account": {"ConcurrentExecutions": 1000, "Region": "us-east-1", "AccountId": "123456789012"},
        "Functions": [dict(FN, ReservedConcurrentExecutions=5, Environment={"Variables": {"K": "v"}},
                           EphemeralStorage={"Size": 1024}, Architectures=["arm64"], Description="d",
                           EventInvokeConfig={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600,
                                              "DestinationConfig": {"OnFailure": {
                                                  "Destination": "arn:aws:lambda:us-east-1:123456789012:function:dlq"}}},
                           DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:q"})],
        "Faults": [{"Function": "echo", "Fault": "throttle", "When": {"Nth": [3]}}],
        "Lemu": {"PendingSeconds": 0, "StateDir": "state", "TimeScale": 0.001},
    }
    put("config", json.dumps(full))
    put("config", json.dumps({"Functions": [FN, dict(FN, FunctionName="py", Runtime="python3.12",
                                                     Handler="app.handler", CodeUri="/tmp")]}))
    put("config", json.dumps({"Functions": [dict(FN, Timeout=1e300)]}))
    put("config", json.dumps({"Functions": [dict(FN, Timeout=-1e300)]}))
    put("config", json.dumps({"Account": {"ConcurrentExecutions": 1e19}}))
    put("config", json.dumps({"Listen": "[::1]:0"}))
    put("config", json.dumps({"Listen": "host:99999"}))
    put("config", json.dumps({"Functions": [FN, FN]}))
    put("config", '{"Functions": [ {"FunctionName": "echo",')
    put("config", "[]")
    put("config", "")
    # sample mode: 0x01 then a function.json
    put("config", b"\x01" + json.dumps({"FunctionName": "s", "Runtime": "python3.12", "Handler": "app.h"}).encode())
    put("config", b"\x01" + json.dumps({"FunctionName": "s", "Runtime": "provided", "CodeUri": ".",
                                        "MemorySize": 1e300}).encode())


RULE = {"Function": "echo", "Fault": "throttle", "When": {"Nth": [2, 5]}, "Times": 3,
        "Params": {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}}
FIS = {
    "description": "lambda faults",
    "targets": {"fns": {"resourceType": "aws:lambda:function",
                        "resourceArns": ["arn:aws:lambda:us-east-1:123456789012:function:echo",
                                         "arn:aws:lambda:us-east-1:123456789012:function:other:prod"],
                        "selectionMode": "ALL"}},
    "actions": {
        "delay": {"actionId": "aws:lambda:invocation-add-delay",
                  "parameters": {"duration": "PT5M", "invocationPercentage": "50",
                                 "startupDelayMilliseconds": "250"}, "targets": {"Functions": "fns"}},
        "err": {"actionId": "aws:lambda:invocation-error",
                "parameters": {"duration": "PT1H30M", "preventExecution": "true"}, "targets": {"Functions": "fns"}},
        "http": {"actionId": "aws:lambda:invocation-http-integration-response",
                 "parameters": {"statusCode": "503", "contentTypeHeader": "application/json"}},
        "ec2": {"actionId": "aws:ec2:stop-instances"},
    },
}


def seeds_faults():
    put("fault_rules", json.dumps(RULE))
    put("fault_rules", json.dumps([RULE, {"Function": "*", "Fault": "timeout", "When": {"Every": 3}},
                                   {"Function": "echo", "Fault": "latency", "When": {"Probability": 0.5, "Seed": 7},
                                    "Params": {"Ms": 10}},
                                   {"Function": "echo", "Fault": "pending", "Params": {"Seconds": 60}},
                                   {"Function": "echo", "Fault": "crash", "When": {"Always": True},
                                    "Match": [{"Path": "$.user.id", "StartsWith": "test-"},
                                              {"Path": "$.items[0]", "Exists": True},
                                              {"Path": "custom.k", "Source": "ClientContext", "Eq": "v"},
                                              {"Path": "$.name", "Regex": "^a(b|c)+$"}]}])
        + '\0{"user": {"id": "test-1"}, "items": [1], "name": "abcb", "custom": {"k": "v"}}')
    put("fault_rules", json.dumps(FIS))
    put("fault_rules", json.dumps(dict(FIS, actions={"a": {"actionId": "aws:lambda:invocation-add-delay",
                                                           "parameters": {"startupDelayMilliseconds": "-5"}}})))
    put("fault_rules", json.dumps(dict(FIS, actions={
        "ok": {"actionId": "aws:lambda:invocation-error", "targets": {"Functions": "fns"}},
        "bad": {"actionId": "aws:lambda:invocation-add-delay", "parameters": {"startupDelayMilliseconds": "-5"}}})))
    put("fault_rules", json.dumps(dict(FIS, actions={
        "nan": {"actionId": "aws:lambda:invocation-add-delay", "parameters": {"startupDelayMilliseconds": "nan",
                                                                             "duration": "PT1e300H"}}})))
    put("fault_rules", json.dumps(dict(FIS, targets={"t": {"resourceArns": ["arn:aws:lambda:r:1:function:"]}},
                                       actions={"a": {"actionId": "aws:lambda:invocation-error", "targets": {"F": "t"}},
                                                "b": {"actionId": "aws:lambda:invocation-error"}})))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "throttle", "When": {"Nth": [1e300]}}))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "throttle", "Times": 1e300}))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "pending", "Params": {"Seconds": 1e300}}))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "throttle",
                                   "When": {"Probability": 0.5, "Seed": 1e300}}))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "nope"}))
    put("fault_rules", json.dumps({"Function": "echo", "Fault": "crash", "Match": {"Path": "$.a", "Regex": "("}}))


def seeds_mgmt():
    zipb64 = base64.b64encode(zip_bytes(ZIPS[0])).decode()
    create = {"FunctionName": "fn", "Runtime": "provided.al2023", "Role": "arn:aws:iam::123456789012:role/r",
              "Handler": "bootstrap.handler", "Code": {"ZipFile": zipb64}, "Timeout": 10, "MemorySize": 256,
              "Description": "d", "Environment": {"Variables": {"K": "v", "AWS_REGION": "x"}},
              "Tags": {"team": "a"}, "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 1024},
              "TracingConfig": {"Mode": "Active"}, "LoggingConfig": {"LogFormat": "JSON", "LogGroup": "/g"},
              "PackageType": "Zip", "Publish": True}
    put("mgmt_body", json.dumps(create))
    put("mgmt_body", json.dumps(dict(create, Code={"S3Bucket": "lemu-local", "S3Key": "/tmp"})))
    put("mgmt_body", json.dumps(dict(create, Code={"ZipFile": base64.b64encode(zip_bytes(ZIPS[4])).decode()})))
    put("mgmt_body", json.dumps(dict(create, Timeout=1e300, MemorySize=-1e300)))
    put("mgmt_body", json.dumps(dict(create, Runtime="java21", Role="bad", Handler="a b", Architectures=["x", "y"])))
    put("mgmt_body", json.dumps({"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST"}))
    put("mgmt_body", json.dumps({"StatementId": "s1", "Action": "lambda:InvokeFunction",
                                 "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::b"}))
    put("mgmt_body", json.dumps({"StatementId": "s2", "Principal": "123456789012"}))
    put("mgmt_body", json.dumps({"Name": "prod", "FunctionVersion": "1", "Description": "x"}))
    put("mgmt_body", json.dumps({"ReservedConcurrentExecutions": 5}))
    put("mgmt_body", json.dumps({"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60}))


def seeds_apigw_response():
    """First byte: bit 0 REST, bit 1 payload format 2.0; the rest is the function's answer."""
    answers = [
        {"statusCode": 200, "headers": {"Content-Type": "text/plain", "X-A": "1"}, "body": "hi"},
        {"statusCode": "404", "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-N": [1, True, None]},
         "headers": {"Set-Cookie": "c=3", "Date": "x", "Connection": "close"}, "body": "", "isBase64Encoded": False},
        {"statusCode": 201, "body": "aGVsbG8=", "isBase64Encoded": True, "cookies": ["k=v; Path=/"]},
        {"statusCode": 302, "headers": {"Location": "/x", "WWW-Authenticate": "Basic", "Content-Length": "9"}},
        {"statusCode": 200, "unknown": 1},
        {"statusCode": 200.5}, {"statusCode": 99}, {"statusCode": 600}, {"statusCode": 1e300},
        {"statusCode": 200, "headers": {"Bad Name": "v", "X": "a\r\nb"}},
        {"statusCode": 200, "headers": {"X": "v" * 12000}},
        {"statusCode": 200, "body": "!!!", "isBase64Encoded": True},
        {"statusCode": 200, "body": {"nested": 1}},
        {"hello": "world"}, {"message": "no status"},
    ]
    for kind in range(4):
        for a in answers:
            put("apigw_response", bytes([kind]) + json.dumps(a).encode())
        for raw in (b'"just a string"', b"[1, 2]", b"42", b"null", b"not json", b"", b'{"statusCode": 200'):
            put("apigw_response", bytes([kind]) + raw)


def invoke_input(flags, name="f", qualifier="", itype="", log_type="", cc="", auth="", ctype="", body=b""):
    fields = [name, qualifier, itype, log_type, cc, auth, ctype]
    return bytes([flags]) + "\n".join(fields).encode() + b"\n" + body


def seeds_invoke_request():
    """See tests/fuzz/fuzz_invoke_request.c: flag byte, newline-separated fields, then the body."""
    cc = base64.b64encode(b'{"custom": {"a": 1}, "env": {}}').decode()
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/lambda/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc")
    put("invoke_request", invoke_input(0, body=b'{"k": [1, 2, {"x": null}]}'))
    put("invoke_request", invoke_input(0x02, itype="RequestResponse", body=b"{}"))
    put("invoke_request", invoke_input(0x02, itype="Event", body=b'{"a": 1}'))
    put("invoke_request", invoke_input(0x02, itype="DryRun"))
    put("invoke_request", invoke_input(0x3f, name="arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                                       qualifier="$LATEST", itype="RequestResponse", log_type="Tail", cc=cc,
                                       auth=auth, ctype="application/json", body=b'"s"'))
    put("invoke_request", invoke_input(0x01, name="f:1", qualifier="2"))
    put("invoke_request", invoke_input(0x01, name="123456789012:function:f", qualifier="prod"))
    put("invoke_request", invoke_input(0x00, name="arn:aws:lambda:eu-west-1:123456789012:function:f"))
    put("invoke_request", invoke_input(0x00, name="nope", body=b"[]"))
    put("invoke_request", invoke_input(0x00, name="a" * 200))
    put("invoke_request", invoke_input(0x00, name="bad name!"))
    put("invoke_request", invoke_input(0x02, itype="Bogus"))
    put("invoke_request", invoke_input(0x04, log_type="Verbose"))
    put("invoke_request", invoke_input(0x08, cc="not base64!"))
    put("invoke_request", invoke_input(0x08, cc=base64.b64encode(b"[1]").decode()))
    put("invoke_request", invoke_input(0x08, cc="A" * 4000))
    put("invoke_request", invoke_input(0x10, auth=auth.replace("us-east-1", "ap-south-2")))
    put("invoke_request", invoke_input(0x00, body=b'{"unterminated": '))
    put("invoke_request", invoke_input(0x00, body=b"\xff\xfe not json"))
    put("invoke_request", invoke_input(0x42, itype="Event", body=b'{"chunked": true, "pad": "' + b"x" * 300 + b'"}'))
    put("invoke_request", invoke_input(0x40, body=b""))
    put("invoke_request", b"\x80Content-Length: 5\nX-Amz-Invocation-Type: DryRun")
    put("invoke_request", b"\x80Transfer-Encoding: chunked\nExpect: 100-continue")
    put("invoke_request", b"\x80X-Amz-Invocation-Type: Event\nContent-Length: 0")
    put("invoke_request", b"\x80bad header line without colon\n: empty name")
    put("invoke_request", b"\x80Content-Length: 99999999999999999999")
    put("invoke_request", b"\x80Host: a\nHost: b\nContent-Length: 1\nContent-Length: 2")


def seeds_runtime_api():
    """See tests/fuzz/fuzz_runtime_api.c: a sequence of operations (opcode byte, then its fields)."""
    def text(b):
        b = b.encode() if isinstance(b, str) else b
        return bytes([len(b)]) + b

    def body(b):
        b = b.encode() if isinstance(b, str) else b
        b = b + b" " * ((-len(b)) % 16)  # lengths are counted in 16-byte units
        return bytes([len(b) // 16]) + b

    NEXT, RESP, ERR, INIT_ERR, INVOKE, CLOSE, RAW, KILL = range(8)
    invoke = bytes([INVOKE]) + body('{"k": 1}')
    resp_last = bytes([RESP, 0]) + body('{"r": "ok"}')
    err_last = bytes([ERR, 4]) + text("Runtime.Custom") + body('{"errorMessage": "m", "errorType": "T"}')
    put("runtime_api", invoke + resp_last)                              # the normal cycle
    put("runtime_api", invoke + err_last)                               # a function error
    put("runtime_api", invoke + resp_last + resp_last)                  # answered twice
    put("runtime_api", invoke + bytes([RESP, 1]) + body("{}"))          # the stale id
    put("runtime_api", invoke + bytes([RESP, 2]) + text("not-an-id") + body("{}"))
    put("runtime_api", invoke + bytes([ERR, 2]) + text("../../x") + body(""))
    put("runtime_api", bytes([NEXT]) + invoke + bytes([NEXT, NEXT]) + resp_last)  # /next out of turn
    put("runtime_api", invoke + invoke + resp_last + invoke + resp_last)  # a second invoke: throttled
    put("runtime_api", bytes([INIT_ERR, 1]) + text("Runtime.ExitError") + body('{"errorMessage": "boom"}'))
    put("runtime_api", invoke + bytes([INIT_ERR, 0]) + body(""))        # init error while running
    put("runtime_api", invoke + bytes([CLOSE]) + resp_last)              # the caller hangs up
    put("runtime_api", bytes([RAW, 0]) + text("invocation/next/extra") + body(""))
    put("runtime_api", bytes([RAW, 1]) + text("init/error/x") + body("{}"))
    put("runtime_api", bytes([RAW, 2]) + text("invocation/1/response") + body("{}"))
    put("runtime_api", invoke + bytes([ERR, 0]) + body("not json at all"))
    put("runtime_api", invoke + bytes([ERR, 4]) + text("\x01\xff") + body("{}"))
    put("runtime_api", invoke + bytes([KILL, ord('K'), INIT_ERR, 1]) + text("Runtime.Init") + body("{}"))  # crash, re-init fails
    put("runtime_api", bytes([KILL, ord('K'), NEXT]) + resp_last + bytes([KILL, ord('K')]) + invoke + bytes([NEXT]) + resp_last)
    # the runtime hangs up its parked /next (7 'N', or op 5 when it is the oldest), then asks
    # again: the invocation must go to the new /next, not into the closed connection
    put("runtime_api", bytes([KILL, ord('N'), NEXT]) + invoke + resp_last)
    put("runtime_api", bytes([KILL, ord('N')]) + invoke + bytes([NEXT]) + resp_last)
    put("runtime_api", bytes([CLOSE]) + invoke + bytes([NEXT]) + resp_last)
    # a runtime that pipelines POST /response and GET /next (7 'P'): from its second pair on lemu
    # holds the 202 until the next event; then it hangs up, is killed, or stops pipelining
    pipe = lambda b: bytes([KILL, ord('P')]) + body(b)
    put("runtime_api", invoke + pipe('{"p": 1}') + invoke + pipe('{"p": 2}') + invoke + pipe('{"p": 3}') + invoke + resp_last)
    put("runtime_api", invoke + pipe("1") + invoke + pipe("2") + bytes([CLOSE]) + invoke + bytes([NEXT]) + resp_last)
    put("runtime_api", invoke + pipe("1") + invoke + pipe("2") + bytes([KILL, ord('K')]) + invoke + resp_last)
    put("runtime_api", invoke + pipe("1") + invoke + pipe("2") + invoke + err_last + bytes([NEXT]) + invoke + pipe("3"))


if __name__ == "__main__":
    seeds_zip()
    seeds_arn()
    seeds_json()
    seeds_base64()
    seeds_config()
    seeds_faults()
    seeds_mgmt()
    seeds_apigw_response()
    seeds_invoke_request()
    seeds_runtime_api()
