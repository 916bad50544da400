"""Messages and docstrings under src/ never tell users to ``pip install 'schedy[EXTRA]'``.

That installs the package index's ``schedy``, the 2018 client of a hosted
service (see tests/examples/test_install.py for the docs); a hint names
this checkout (``./[EXTRA]``, an extra the project declares) or a plain
third-party package.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_REQUIREMENT = re.compile(r"pip install ('[^']*'|[^\s`'\"()]+)")


def test_every_install_hint_under_src_names_this_checkout_or_another_package() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    checkout = 0
    for source in sorted((ROOT / "src" / "schedy").rglob("*.py")):
        for match in _REQUIREMENT.finditer(source.read_text()):
            requirement = match.group(1).strip("'")
            where = f"{source.relative_to(ROOT)}: pip install {requirement}"
            assert not re.match(r"schedy\b", requirement), f"{where} installs the package index's 2018 schedy"
            path = re.fullmatch(r"\./\[([a-z0-9,-]+)\]", requirement)
            if requirement.startswith("."):
                assert path is not None, f"{where} is not this checkout with extras"
                unknown = set(path.group(1).split(",")) - extras
                assert not unknown, f"{where} names extras the project does not declare: {unknown}"
                checkout += 1
    assert checkout >= 6  # the fsspec and pandas messages, the integrations
