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


if __name__ == "__main__":
    seeds_zip()
    seeds_arn()
    seeds_json()
    seeds_base64()
    seeds_config()
    seeds_faults()
    seeds_mgmt()
