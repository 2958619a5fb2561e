"""Debian's chromium for the browser tests: where it is, and how Playwright starts it.

Never downloads a browser: ``make browser`` installs Debian's package and ``make test`` runs
that first. A missing chromium fails the test that needs it, so CI cannot skip one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None and Path("/usr/bin/chromium").is_file():
        path = "/usr/bin/chromium"
    if path is None:
        pytest.fail(
            "Debian's chromium is not installed, and the browser tests need it: run "
            "`make browser` (installs it with apt-get; `make test` does this first)",
            pytrace=False,
        )
    return path
