"""The documentation stands on its own: every link it makes leads to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
_LINK = re.compile(r"\]\(([^)\s#]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_lead_to_files_of_the_repository(page):
    missing = []
    for target, _anchor in _LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


@pytest.mark.parametrize("name", ["API.md", "BENCH.md"])
def test_nothing_cites_documents_outside_the_repository(name):
    """The protocol and the benchmark method are written in docs/, not in files users do not have."""
    citing = []
    for path in [*PAGES, *(ROOT / "src").rglob("*.py"), *(ROOT / "src").rglob("*.js"), *(ROOT / "tests").rglob("*.py")]:
        if path == Path(__file__):
            continue
        if name in path.read_text(encoding="utf-8", errors="replace"):
            citing.append(str(path.relative_to(ROOT)))
    assert not citing, f"{name} is not in the repository, yet cited by {citing}"
