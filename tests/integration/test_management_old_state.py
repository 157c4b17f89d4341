"""A state directory written by an older lemu still opens. Its events.db holds the async queue's
former copy of each function's DeadLetterConfig (a dlq column, and rows that held only that copy);
the DLQ now comes from the function's own configuration. The EventInvokeConfig rows are kept and
still apply, a stale copy sends nothing, the rows that held only a copy are dropped, and new
EventInvokeConfigs are written into the old table."""
import http.client
import io
import json
import sqlite3
import time
import urllib.parse
import zipfile

from lemu_testlib import ACCOUNT, REGION, arn

ROLE = "arn:aws:iam::%s:role/lambda-role" % ACCOUNT
STALE_DLQ = "arn:aws:sqs:%s:%s:stale-copy-dlq" % (REGION, ACCOUNT)
REAL_DLQ = "arn:aws:sqs:%s:%s:real-dlq" % (REGION, ACCOUNT)
FAILING_HANDLER = "def handler(event, context):\n    raise Exception('created to fail')\n"
# The schema of an events.db from before the queue stopped copying DLQs.
OLD_SCHEMA = """
CREATE TABLE events(id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT, payload BLOB,
                    enqueued_ms INTEGER, next_ms INTEGER, attempts INTEGER, running INTEGER, last_error TEXT);
CREATE TABLE invoke_config(function TEXT PRIMARY KEY, doc TEXT, last_modified REAL, dlq TEXT);
"""
OLD_LAST_MODIFIED = 1700000000.0


def zip_of(source):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", source)
    return buf.getvalue()


def control(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body)
        return json.loads(body)
    finally:
        conn.close()


def records(server, dest):
    return control(server, "/lemu/v1/destinations?arn=" + urllib.parse.quote(dest, safe=""))["Records"]


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_events_db_with_the_former_dlq_copy(make_lemu, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(str(state / "events.db"))
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO invoke_config VALUES (?, ?, ?, ?)",
               ("keep", json.dumps({"MaximumRetryAttempts": 0}), OLD_LAST_MODIFIED, STALE_DLQ))
    db.execute("INSERT INTO invoke_config VALUES (?, ?, ?, ?)", ("gone", None, OLD_LAST_MODIFIED, STALE_DLQ))
    db.commit()
    db.close()

    s = make_lemu(config={}, args=["--state-dir", str(state), "--time-scale", "0.001", "--pending-seconds", "0"])
    c = s.client()
    code = {"ZipFile": zip_of(FAILING_HANDLER)}
    c.create_function(FunctionName="keep", Runtime="python3.12", Handler="app.handler", Role=ROLE, Code=code)
    c.create_function(FunctionName="dl", Runtime="python3.12", Handler="app.handler", Role=ROLE, Code=code,
                      DeadLetterConfig={"TargetArn": REAL_DLQ})
    kept = c.get_function_event_invoke_config(FunctionName="keep")
    assert (kept["MaximumRetryAttempts"], kept["FunctionArn"]) == (0, arn("keep", "$LATEST"))
    assert kept["LastModified"].timestamp() == OLD_LAST_MODIFIED
    c.put_function_event_invoke_config(FunctionName="dl", MaximumRetryAttempts=0)

    for name in ("keep", "dl"):
        assert c.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')["StatusCode"] == 202
    [dead] = wait_for(lambda: records(s, REAL_DLQ), "the DLQ record of dl")
    assert dead["Body"] == '{"n": 1}'
    wait_for(lambda: control(s, "/lemu/v1/queue")["Events"] == [], "an empty queue")
    # keep failed for good after one attempt (its kept EventInvokeConfig) and has no DLQ of its own
    assert records(s, STALE_DLQ) == []
    s.stop()

    db = sqlite3.connect(str(state / "events.db"))
    rows = db.execute("SELECT function, doc FROM invoke_config ORDER BY function").fetchall()
    db.close()
    assert [(f, json.loads(d)) for f, d in rows] == [("dl", {"MaximumRetryAttempts": 0}),
                                                     ("keep", {"MaximumRetryAttempts": 0})]
