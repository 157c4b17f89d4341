"""The example suite serves the functions in ./functions (each folder with a function.json)
instead of lemu's samples: overriding the plugin's `lemu_functions_dir` fixture is all it takes."""
import os

import pytest


@pytest.fixture
def lemu_functions_dir():
    return os.path.join(os.path.dirname(__file__), "functions")
