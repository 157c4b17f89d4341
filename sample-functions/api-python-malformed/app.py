"""api-python-malformed: each common mistake that makes API Gateway answer 502 Bad Gateway
{"message": "Internal server error"} and log "Execution failed due to configuration error:
Malformed Lambda proxy response" (seed 003). The {variant} path parameter picks one:
none, body-not-string, no-status-code, raise, extra-key, header-object, bad-base64."""
import json


def handler(event, context):
    variant = (event.get("pathParameters") or {}).get("variant", "none")
    if variant == "none":
        return None  # forgot to return the response
    if variant == "body-not-string":
        return {"statusCode": 200, "body": {"message": "ok"}}  # WRONG: json.dumps() it
    if variant == "no-status-code":
        return {"headers": {"Content-Type": "application/json"}, "body": json.dumps({"message": "ok"})}
    if variant == "raise":
        raise RuntimeError("the handler failed before returning a response")
    if variant == "extra-key":
        return {"statusCode": 200, "body": "ok", "cookies": ["a=1"]}  # REST APIs accept no other key
    if variant == "header-object":
        return {"statusCode": 200, "headers": {"X-Info": {"nested": True}}, "body": "ok"}
    if variant == "bad-base64":
        return {"statusCode": 200, "body": "this is not base64!", "isBase64Encoded": True}
    return {"statusCode": 404, "body": json.dumps({"unknown variant": variant})}
