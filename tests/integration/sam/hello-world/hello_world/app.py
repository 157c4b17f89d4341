import json
import os


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps({
            "message": "hello world",
            "memory": context.memory_limit_in_mb,
            "path": event.get("path"),
        }),
    }
