"""import-error-python: the Handler names module 'function' but the code is in lambda_function.py,
so init fails with Runtime.ImportModuleError:
"Unable to import module 'function': No module named 'function'"."""


def handler(event, context):
    return event
