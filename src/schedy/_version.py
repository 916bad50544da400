"""Which Schedy this is: one place, read by the package, its client's User-Agent and the service."""

from __future__ import annotations

__all__ = ["__version__"]

#: Also pyproject.toml's ``version`` (tests/examples/test_install.py checks that they agree).
__version__ = "0.2.0.dev1"
