"""api-python: a correct API Gateway Lambda proxy handler, for REST APIs (payload 1.0) and HTTP
APIs (payload 2.0). It answers statusCode, headers, cookies (multiValueHeaders Set-Cookie for
1.0, the cookies list for 2.0) and a JSON string body. Query parameters drive it: ?status=201
picks the status, ?sleep=2 sleeps first (to overrun the integration timeout), ?echo=event
returns the whole event. A binary (base64) request body comes back as the same bytes."""
import json
import time

COOKIES = ["flavor=chocolate", "session=abc123; HttpOnly"]


def header(event, name):
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if event.get("isBase64Encoded"):
        # Binary in, binary out: the body stays base64 and API Gateway decodes it for the client.
        return {
            "statusCode": 200,
            "headers": {"Content-Type": header(event, "content-type") or "application/octet-stream"},
            "body": event["body"],
            "isBase64Encoded": True,
        }
    if query.get("echo") == "event":
        payload = event
    else:
        payload = {
            "message": "hello from api-python",
            "path": event.get("path") or event.get("rawPath"),
            "pathParameters": event.get("pathParameters"),
            "query": query,
            "requestId": context.aws_request_id,
        }
    response = {
        "statusCode": int(query.get("status", "200")),
        "headers": {"Content-Type": "application/json", "X-Sample": "api-python"},
        "body": json.dumps(payload),  # body MUST be a string
    }
    if event.get("version") == "2.0":
        response["cookies"] = COOKIES
    else:
        response["multiValueHeaders"] = {"Set-Cookie": COOKIES}
    return response
