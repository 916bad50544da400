"""The install lines of the README and docs/ install this project, not the package index's 2018 ``schedy``.

``pip install 'schedy[server]'`` installs the hosted service's old client
(0.1.0b6) from the index, with only a warning about the unknown extra. Every
``pip install`` the pages show names this checkout (``./[EXTRAS]``) with
extras it declares; the README's line, resolved by pip itself, is this
project at this version with the server's extra.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from schedy import __version__

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").rglob("*.py")])
_PIP = re.compile(r"pip install ([^`\n#]*)")


def _requirements() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for match in _PIP.finditer(page.read_text()):
            words = shlex.split(match.group(1).rstrip("`)( "))
            found += [(page.name, word) for word in words if not word.startswith("-")]
    return found


def test_every_install_line_names_this_checkout_with_extras_it_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(project["optional-dependencies"])
    assert project["name"] == "schedy"
    checked = 0
    for page, requirement in _requirements():
        assert not re.match(r"schedy\b", requirement), f"{page}: {requirement!r} installs the package index's schedy"
        path = re.match(r"(\.[^\[]*)(\[(.*)\])?$", requirement)
        if path is None:
            continue  # another package (e.g. s3fs)
        assert (ROOT / path.group(1) / "pyproject.toml").is_file(), f"{page}: {requirement!r} is not this checkout"
        unknown = set((path.group(3) or "").split(",")) - extras - {""}
        assert not unknown, f"{page}: {requirement!r} names extras the project does not declare: {unknown}"
        checked += 1
    assert checked >= 3


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="pip needs the build backend offline")
def test_the_readme_install_line_resolves_to_this_project(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"^pip install (\S+)\s+# from the root of this repository$", readme, re.M)
    assert line is not None, "the README's install line"
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation", "--quiet"]
    done = subprocess.run(
        [*command, "--report", str(report), *shlex.split(line.group(1))],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "setuptools" in done.stderr:
        pytest.skip(f"the installed setuptools cannot build offline: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    (installed,) = json.loads(report.read_text())["install"]
    assert (installed["metadata"]["name"], installed["metadata"]["version"]) == ("schedy", __version__)
    assert installed["requested_extras"] == ["server"]
