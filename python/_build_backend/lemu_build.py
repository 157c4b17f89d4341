"""A PEP 517 build backend in ~100 lines, so `pip install ./python` needs no package index (pip
would otherwise download setuptools into its isolated build environment). It builds a pure-Python
wheel of the lemu_pytest package from pyproject.toml's [project] name, version, description and
pytest11 entry point, an sdist, and an editable wheel (PEP 660: a .pth file pointing here)."""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "lemu_pytest"


def _project():
    """name, version, description and the pytest11 entry points from pyproject.toml."""
    meta, section = {"entry_points": {}}, None
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                section = m.group(1).strip()
                continue
            m = re.match(r'^([A-Za-z0-9_.-]+)\s*=\s*"([^"]*)"$', line)
            if not m:
                continue
            if section == "project":
                meta[m.group(1)] = m.group(2)
            elif section == "project.entry-points.pytest11":
                meta["entry_points"][m.group(1)] = m.group(2)
    return meta


def _dist(meta):
    return "%s-%s" % (meta["name"].replace("-", "_"), meta["version"])


def _metadata(meta):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nRequires-Python: %s\n"
            % (meta["name"], meta["version"], meta.get("description", ""), meta.get("requires-python", ">=3.9")))


def _files():
    base = os.path.join(ROOT, PACKAGE)
    for name in sorted(os.listdir(base)):
        if name.endswith(".py"):
            yield "%s/%s" % (PACKAGE, name), os.path.join(base, name)


def _write_wheel(wheel_directory, meta, payload):
    """payload: [(archive name, bytes)]. Adds the .dist-info files and RECORD."""
    dist = _dist(meta)
    info = dist + ".dist-info"
    eps = "[pytest11]\n" + "".join("%s = %s\n" % kv for kv in meta["entry_points"].items())
    payload = list(payload) + [
        (info + "/METADATA", _metadata(meta).encode()),
        (info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: lemu_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        (info + "/entry_points.txt", eps.encode()),
        (info + "/top_level.txt", (PACKAGE + "\n").encode()),
    ]
    record = []
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in payload:
            z.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (arcname, digest, len(data)))
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    payload = []
    for arcname, path in _files():
        with open(path, "rb") as f:
            payload.append((arcname, f.read()))
    return _write_wheel(wheel_directory, _project(), payload)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    meta = _project()
    return _write_wheel(wheel_directory, meta, [(_dist(meta) + ".pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    meta = _project()
    dist = _dist(meta)
    name = dist + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "_build_backend/lemu_build.py"] + [a for a, _ in _files()]:
            if os.path.exists(os.path.join(ROOT, rel)):
                t.add(os.path.join(ROOT, rel), arcname="%s/%s" % (dist, rel))
        pkg_info = _metadata(meta).encode()
        ti = tarfile.TarInfo("%s/PKG-INFO" % dist)
        ti.size = len(pkg_info)
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
