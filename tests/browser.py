"""Debian's chromium for the browser tests: where it is, and how Playwright starts it.

Never downloads a browser: ``make browser`` installs Debian's package and ``make test`` runs
that first. A missing chromium fails the test that needs it, so CI cannot skip one.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

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


@contextmanager
def browser_page(
    profile: Path, *, width: int = 1400, bypass_csp: bool = False
) -> Iterator[tuple[Page, list[str]]]:
    """A page in Debian's chromium with a fresh profile; yields it with the list that
    collects its console errors and uncaught exceptions (CSP refusals are console errors).
    ``bypass_csp``: let a test inject a script (axe-core) into pages whose policy forbids it."""
    errors: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": 1000},
            bypass_csp=bypass_csp,
        )
        try:
            page = context.new_page()

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    errors.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, errors
        finally:
            context.close()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a server under test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


AXE = Path(__file__).resolve().parents[1] / "web" / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical accessibility violations on the page (the page must
    come from a context with ``bypass_csp``); one line each, naming the first elements."""
    if not AXE.is_file():
        pytest.fail("axe-core is missing: run `make assets` (npm ci in web/)", pytrace=False)
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found: list[list[str]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => [v.id, v.help,
                         v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")])"""
    )
    return [f"{rule}: {text} ({where})" for rule, text, where in found]
