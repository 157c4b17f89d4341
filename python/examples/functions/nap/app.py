"""nap: sleeps for the event's number of seconds (its Timeout is 1 s)."""
import time


def handler(event, context):
    time.sleep(float(event))
    return {"slept": event}
