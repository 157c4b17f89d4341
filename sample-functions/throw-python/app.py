"""throw-python: an unhandled exception in the handler. The caller gets FunctionError Unhandled
and {"errorMessage": "division by zero", "errorType": "ZeroDivisionError", "requestId": ...,
"stackTrace": [...]}."""


def handler(event, context):
    print("about to divide by zero")
    return 1 / 0
