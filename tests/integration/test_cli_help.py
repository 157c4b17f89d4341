"""`lemu --help`, `lemu CMD --help` and the manual page docs/lemu.1 (issue 12).

The options each command accepts are read from its parser's source (emulator/main.c,
emulator/fault_client.c), so an option added there without a line in its help and in the man
page fails here. The man page must format without groff warnings and be installed by
`cmake --install`.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import LEMU_BIN, REPO

MAN = os.path.join(REPO, "docs", "lemu.1")
OPTION_RE = re.compile(r'strcmp\(argv\[[^\]]+\], "([^"]+)"\)')


def lemu(*args):
    return subprocess.run([LEMU_BIN, *args], capture_output=True, text=True, timeout=10)


def source(path):
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def function_body(text, signature):
    start = text.index(signature)
    end = text.index("\n}\n", start)
    return text[start:end]


def man_text():
    with open(MAN) as f:
        return f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


SERVE_OPTIONS = sorted(set(OPTION_RE.findall(function_body(source("emulator/main.c"), "static int cmd_serve("))))
FAULT_WORDS = sorted(set(OPTION_RE.findall(function_body(source("emulator/fault_client.c"),
                                                         "int fault_client_main("))))
DEMO_WORDS = sorted(set(OPTION_RE.findall(function_body(source("emulator/demo.c"), "int demo_main("))))
COMMANDS = sorted(set(re.findall(r'strcmp\(argv\[1\], "([a-z][a-z-]*)"\)', source("emulator/main.c"))))


def test_the_parsers_were_found():
    assert {"-c", "--config", "--listen", "--state-dir", "--time-scale", "--no-sandbox", "--debug",
            "-h", "--help"} <= set(SERVE_OPTIONS)
    assert {"add", "list", "clear", "import", "--endpoint-url", "--seed", "--help"} <= set(FAULT_WORDS)
    assert {"serve", "fault", "faults-doc", "help", "demo"} <= set(COMMANDS)
    assert {"--endpoint-url", "--api-url", "--color", "--list", "--help"} <= set(DEMO_WORDS)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_main_help_lists_every_command(args):
    r = lemu(*args)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: lemu COMMAND")
    for cmd in COMMANDS:
        assert re.search(r"^  %s\b" % re.escape(cmd), r.stdout, re.M), cmd


@pytest.mark.parametrize("args", [["serve", "--help"], ["serve", "-h"], ["help", "serve"]])
def test_serve_help_covers_every_option(args):
    r = lemu(*args)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: lemu serve")
    for opt in SERVE_OPTIONS:
        assert re.search(r"(^|[\s,\[])%s\b" % re.escape(opt), r.stdout), opt


@pytest.mark.parametrize("args", [["fault", "--help"], ["fault", "-h"], ["help", "fault"]])
def test_fault_help_covers_every_subcommand_and_option(args):
    r = lemu(*args)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: lemu fault")
    for word in FAULT_WORDS:
        assert re.search(r"(^|[\s\[])%s\b" % re.escape(word), r.stdout), word


@pytest.mark.parametrize("args", [["demo", "--help"], ["demo", "-h"], ["help", "demo"]])
def test_demo_help_covers_every_option_and_scenario(args):
    r = lemu(*args)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: lemu demo")
    for word in DEMO_WORDS:
        assert re.search(r"(^|[\s\[])%s\b" % re.escape(word), r.stdout), word
    for name in lemu("demo", "--list").stdout.split():
        assert re.search(r"^  %s " % re.escape(name), r.stdout, re.M), name


def test_faults_doc_help():
    r = lemu("faults-doc", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: lemu faults-doc")
    assert lemu("faults-doc", "--bogus").returncode == 2


@pytest.mark.parametrize("args", [["bogus"], [], ["serve", "--bogus"], ["fault"]])
def test_usage_errors_exit_2_on_stderr(args):
    r = lemu(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "usage: lemu" in r.stderr


def test_man_page_covers_every_command_and_option():
    text = man_text()
    assert text.startswith(".\\\"") and "\n.TH LEMU 1 " in text
    for word in COMMANDS + SERVE_OPTIONS + FAULT_WORDS + DEMO_WORDS + lemu("demo", "--list").stdout.split():
        assert re.search(r"(^|[\s\[\"(])%s\b" % re.escape(word), text, re.M), word
    for metric in ("aws_lambda_invocations_total", "aws_lambda_errors_total", "aws_lambda_throttles_total",
                   "aws_lambda_duration_milliseconds", "lemu_fault_firings_total"):
        assert metric in text


@pytest.mark.skipif(not shutil.which("groff"), reason="groff is not installed")
def test_man_page_formats_without_warnings():
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", MAN], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_cmake_install_installs_the_man_page(tmp_path):
    build = os.path.dirname(LEMU_BIN)
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        pytest.skip("LEMU_BIN is not in a CMake build directory")
    r = subprocess.run(["cmake", "--install", build, "--prefix", str(tmp_path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(tmp_path, "share", "man", "man1", "lemu.1")) as f, open(MAN) as g:
        assert f.read() == g.read()
    assert os.access(os.path.join(tmp_path, "bin", "lemu"), os.X_OK)
