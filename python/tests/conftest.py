"""The plugin's own tests drive inner pytest runs (pytester) with the plugin loaded by path."""
pytest_plugins = ["pytester"]
