"""handler-missing-python: the Handler is function.handler but the module defines lambda_handler,
so init fails with Runtime.HandlerNotFound: "Handler 'handler' missing on module 'function'"."""


def lambda_handler(event, context):
    return event
