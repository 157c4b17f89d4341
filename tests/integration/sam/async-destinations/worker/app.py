import json
import os


def work(event, context):
    if event.get("fail"):
        raise RuntimeError("cannot work on %s" % event.get("id"))
    return {"done": event.get("id")}


def on_failure(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps(event) + "\n")
    return {"recorded": True}
