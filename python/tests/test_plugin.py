"""Tests of lemu_pytest itself: the fixtures against a real lemu, and inner pytest runs
(pytester, in a subprocess) showing what a user sees: the sample suite green when loaded by path
and when installed with pip, a crashed or badly exiting lemu failing the test, a bad config
reported with lemu's own message, and the ini options."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lemu_pytest import LemuServer, parse_metrics

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(PYTHON_DIR, "examples")
FUNCTIONS = os.path.join(EXAMPLES, "functions")


@pytest.fixture
def inner(pytester, monkeypatch):
    """pytester whose subprocess runs import lemu_pytest from this checkout."""
    monkeypatch.setenv("PYTHONPATH", PYTHON_DIR)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)


# ---- the fixtures, in this run -------------------------------------------------------------

@pytest.mark.lemu(functions_dir=FUNCTIONS)
def test_fault_keywords_list_and_clear(lemu_server, lambda_client):
    a = lemu_server.fault("function-error", function="greet", when={"Every": 2},
                          params={"ErrorType": "Injected", "ErrorMessage": "boom"})
    b = lemu_server.fault({"Function": "*", "Fault": "latency", "Params": {"Ms": 1}, "Times": 1})
    assert [(f["Id"], f["Fault"]) for f in lemu_server.faults()] == [(a, "function-error"), (b, "latency")]
    first = lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "a"}')
    second = lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "b"}')
    assert "FunctionError" not in first
    assert second["FunctionError"] == "Unhandled"
    assert json.loads(second["Payload"].read())["errorType"] == "Injected"
    lemu_server.clear_faults(a)
    assert [f["Id"] for f in lemu_server.faults()] == [b]
    lemu_server.clear_faults()
    assert lemu_server.faults() == []
    # lemu's own lines reach stderr() asynchronously: wait for it
    lemu_server.wait_for_log("fault %s (function-error) fired" % a, stderr=True)


@pytest.mark.lemu(functions_dir=FUNCTIONS, control_token="plugin-secret")
def test_control_calls_carry_the_control_token(lemu_server, lambda_client):
    # lemu requires the token on /lemu/v1/: the helper's calls send it, a bare request is refused
    status, _, body = lemu_server.request("GET", "/lemu/v1/faults", headers={"X-Lemu-Control-Token": "wrong"})
    assert status == 401 and json.loads(body)["Type"] == "User"
    a = lemu_server.fault("throttle", function="greet", when={"Nth": [1]})
    assert [f["Id"] for f in lemu_server.faults()] == [a]
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException):
        lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "t"}')
    assert "aws_lambda_throttles_total" in lemu_server.metrics_text()  # raises on a 401
    lemu_server.clear_faults()
    assert lemu_server.faults() == []
    assert "plugin-secret" not in lemu_server.stderr() + lemu_server.logs()


@pytest.mark.lemu(functions_dir=FUNCTIONS)
def test_logs_split_by_function(lemu_server, lambda_client):
    lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "log"}')
    lemu_server.wait_for_log("REPORT RequestId:", function="greet")
    assert "[greet] " in lemu_server.logs()
    assert "[greet] " not in lemu_server.logs(function="greet")
    assert "greeting log" in lemu_server.logs(function="greet")
    assert lemu_server.logs(function="nap") == ""


def test_context_manager_outside_pytest():
    with LemuServer(functions_dir=FUNCTIONS) as lemu:
        assert lemu.alive
        resp = lemu.lambda_client().invoke(FunctionName="greet", Payload=b'{"name": "cm"}')
        assert json.loads(resp["Payload"].read()) == {"greeting": "hello, cm"}
    assert not lemu.alive
    assert lemu.returncode == 0


def test_parse_metrics():
    text = textwrap.dedent('''\
        # HELP x_total a counter
        # TYPE x_total counter
        x_total{function_name="a\\"b",rule="f-1"} 3
        y 1.5
        ''')
    m = parse_metrics(text)
    assert m[("x_total", (("function_name", 'a"b'), ("rule", "f-1")))] == 3.0
    assert m[("y", ())] == 1.5


# ---- inner runs: what a user of the plugin sees ----------------------------------------------

def test_sample_suite_green_loaded_by_path(inner):
    result = run(inner, "-p", "lemu_pytest", EXAMPLES)
    result.assert_outcomes(passed=7)


def test_sample_suite_green_installed_with_pip(inner, tmp_path, monkeypatch):
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
                          "--target", str(target), PYTHON_DIR], capture_output=True, text=True)
    if pip.returncode != 0 and "No module named pip" in pip.stderr:
        pytest.skip("no pip for %s" % sys.executable)
    assert pip.returncode == 0, pip.stderr
    monkeypatch.setenv("PYTHONPATH", str(target))  # the installed copy only, not this checkout
    result = run(inner, EXAMPLES)  # no -p: the pytest11 entry point loads the plugin
    result.assert_outcomes(passed=7)


def test_lemu_crash_fails_the_test(inner):
    inner.makepyfile(test_crash='''
        import os, signal, time

        def test_passes_but_lemu_dies(lemu_server):
            os.kill(lemu_server.proc.pid, signal.SIGKILL)
            lemu_server.proc.wait()
    ''')
    result = run(inner, "-p", "lemu_pytest", "--lemu-functions-dir=" + FUNCTIONS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*lemu exited by itself with status -9 while the test ran*"])


def test_bad_exit_on_sigterm_fails_the_test(inner, tmp_path):
    fake = tmp_path / "fake-lemu"
    fake.write_text(textwrap.dedent('''\
        #!%s
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
        print("http://127.0.0.1:9", flush=True)
        time.sleep(60)
        ''' % sys.executable))
    fake.chmod(0o755)
    inner.makepyfile(test_fake='''
        def test_uses_lemu(lemu_server):
            assert lemu_server.url == "http://127.0.0.1:9"
    ''')
    result = run(inner, "-p", "lemu_pytest", "--lemu-bin=" + str(fake))
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*lemu exited with status 3 on SIGTERM*"])


def test_bad_config_is_reported_with_lemus_message(inner):
    inner.makepyfile(test_bad='''
        import pytest

        @pytest.mark.lemu(config={"Functions": [{"FunctionName": "x", "Runtime": "cobol"}]})
        def test_never_runs(lemu_server):
            pass
    ''')
    result = run(inner, "-p", "lemu_pytest")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lemu did not start (exit 2)*Functions[[]0[]]*"])


def test_ini_options_and_fixture_override(inner):
    inner.makeini('''
        [pytest]
        lemu_functions_dir = %s
    ''' % FUNCTIONS)
    inner.makeconftest('''
        import pytest

        @pytest.fixture
        def lemu_args():
            return ["--time-scale", "0.001"]
    ''')
    inner.makepyfile(test_ini='''
        def test_served_from_the_ini_dir(lemu_server, lambda_client):
            names = sorted(f["FunctionName"] for f in lambda_client.list_functions()["Functions"])
            assert names == ["greet", "nap"]
            assert "--time-scale" in " ".join(lemu_server.proc.args)
    ''')
    result = run(inner, "-p", "lemu_pytest")
    result.assert_outcomes(passed=1)


@pytest.mark.lemu(functions_dir=FUNCTIONS)
def test_metric_counts_this_tests_invokes(lemu_server, lambda_client):
    lambda_client.invoke(FunctionName="greet", Payload=b'{"name": "m"}')
    lambda_client.invoke(FunctionName="greet", Payload=b'{}')
    assert lemu_server.metric("aws_lambda_invocations_total", function_name="greet") == 2
    assert lemu_server.metric("aws_lambda_errors_total", function_name="greet") == 1
    assert lemu_server.metric("aws_lambda_invocations_total", function_name="nap") == 0
    assert "# TYPE aws_lambda_duration_milliseconds histogram" in lemu_server.metrics_text()
