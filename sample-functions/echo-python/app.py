"""echo-python: returns the event unchanged and prints one line, which lands in the Tail log."""


def handler(event, context):
    print("echo-python", context.aws_request_id)
    return event
