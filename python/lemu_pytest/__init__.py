"""lemu_pytest: a pytest plugin that puts a real `lemu serve` one fixture away.

Load it by installing the package (`pip install ./python`, which registers the plugin) or by path
(`PYTHONPATH=python pytest -p lemu_pytest`). Fixtures:

    lemu_server     a running LemuServer (ephemeral port, its own state directory); stopped at
                    the end of the test, which fails if lemu crashed, hung or exited non-zero
    lambda_client   lemu_server.lambda_client(): a boto3 Lambda client pointed at it
    lemu_factory    start(config=..., functions_dir=..., args=...) for several servers per test

What the server serves, first match wins:
    @pytest.mark.lemu(config={...} | "path/lemu.json", functions_dir="dir", args=[...])
    the fixtures `lemu_config` / `lemu_functions_dir` / `lemu_args` (override them in a conftest.py)
    the options --lemu-config / --lemu-functions-dir (or ini keys lemu_config / lemu_functions_dir)
    lemu's default: its sample functions
The binary: --lemu-bin / ini lemu_bin, else $LEMU_BIN, else `lemu` on PATH, else ../build/lemu.
"""
import os

import pytest

from lemu_pytest.server import LemuError, LemuServer, find_lemu_bin, parse_metrics

__all__ = ["LemuServer", "LemuError", "find_lemu_bin", "parse_metrics"]

_SERVERS_ATTR = "_lemu_servers"


def pytest_addoption(parser):
    group = parser.getgroup("lemu", "lemu (local AWS Lambda emulator)")
    group.addoption("--lemu-bin", default=None, help="the lemu binary (default: $LEMU_BIN, PATH, ../build/lemu)")
    group.addoption("--lemu-config", default=None, help="lemu.json the lemu_server fixture serves")
    group.addoption("--lemu-functions-dir", default=None,
                    help="directory of function folders (each with a function.json) to serve without a config")
    parser.addini("lemu_bin", "the lemu binary", default="")
    parser.addini("lemu_config", "lemu.json the lemu_server fixture serves", default="")
    parser.addini("lemu_functions_dir", "directory of function folders to serve", default="")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lemu(config=None, functions_dir=None, args=(), control_token=None): what the lemu_server "
        "fixture serves for this test")


def _setting(pytestconfig, name):
    value = pytestconfig.getoption("--lemu-" + name.replace("_", "-"))
    if value:
        return value
    value = pytestconfig.getini("lemu_" + name)
    if value:
        base = os.path.dirname(str(pytestconfig.inipath)) if pytestconfig.inipath else os.getcwd()
        return value if name == "bin" and os.sep not in value else os.path.join(base, value)
    return None


@pytest.fixture
def lemu_config(pytestconfig):
    """The config lemu_server serves: a dict, a path, or None. Override in a conftest.py."""
    return _setting(pytestconfig, "config")


@pytest.fixture
def lemu_functions_dir(pytestconfig):
    """A directory of function folders served when there is no config (None: lemu's samples)."""
    return _setting(pytestconfig, "functions_dir")


@pytest.fixture
def lemu_args():
    """Extra `lemu serve` arguments, e.g. ["--time-scale", "0.001"]."""
    return []


@pytest.fixture
def lemu_factory(request, tmp_path_factory, pytestconfig):
    """start(config=None, functions_dir=None, args=(), env=None, control_token=None) → a started
    LemuServer; every server it started is stopped and checked when the test ends."""
    lemu_bin = find_lemu_bin(_setting(pytestconfig, "bin"))
    servers = []
    setattr(request.node, _SERVERS_ATTR, servers)

    def start(config=None, functions_dir=None, args=(), env=None, control_token=None):
        workdir = tmp_path_factory.mktemp("lemu")
        server = LemuServer(config=config, functions_dir=functions_dir, args=args, lemu_bin=lemu_bin,
                            workdir=workdir, env=env, control_token=control_token)
        servers.append(server)
        return server.start()

    yield start
    errors = []
    for server in servers:
        try:
            server.stop(check=not getattr(server, "_crash_reported", False))
        except LemuError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def lemu_server(request, lemu_factory, lemu_config, lemu_functions_dir, lemu_args):
    """A running `lemu serve` (see the module docstring for what it serves)."""
    marker = request.node.get_closest_marker("lemu")
    kw = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        kw.setdefault("config", marker.args[0])
    if "config" not in kw and "functions_dir" not in kw:
        kw["config"] = lemu_config
        kw["functions_dir"] = lemu_functions_dir
    kw.setdefault("args", lemu_args)
    return lemu_factory(**kw)


@pytest.fixture
def lambda_client(lemu_server):
    """A boto3 Lambda client for lemu_server (SDK retries off: you see exactly what lemu says)."""
    return lemu_server.lambda_client()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that passed while its lemu died is a failed test, with lemu's stderr as the reason."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.passed:
        return
    for server in getattr(item, _SERVERS_ATTR, ()):
        reason = server.crash_report()
        if reason:
            server._crash_reported = True  # the teardown does not report it a second time
            report.outcome = "failed"
            report.longrepr = reason
            return
