"""greet: the example function of lemu_pytest's sample suite."""


def handler(event, context):
    name = event.get("name") if isinstance(event, dict) else None
    if not name:
        raise ValueError("no name in the event")
    print("greeting", name)
    return {"greeting": "hello, " + name}
