"""async-fail: fails every time. Its function.json sends the failure to an OnFailure destination
and a dead-letter queue, which lemu keeps in its local sink (GET /lemu/v1/destinations)."""


def handler(event, context):
    print("async-fail got", event)
    raise ValueError("async-fail always fails")
