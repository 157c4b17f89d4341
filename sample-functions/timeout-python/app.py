"""timeout-python: sleeps event["seconds"] (default 5, past its 1 s Timeout) and returns how many
times this environment has run the handler. The module-level counter shows warm reuse (1, 2, ...)
and starts again at 1 in the fresh environment that follows a timeout."""
import time

invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    seconds = (event or {}).get("seconds", 5)
    before = context.get_remaining_time_in_millis()
    time.sleep(seconds)
    return {"invocations": invocations, "remainingBefore": before,
            "remainingAfter": context.get_remaining_time_in_millis()}
