"""A real full disk for tests: a small tmpfs mounted on a test's directory, grown later as
an operator frees space. Needs root (CI runs as root here); without it the test is skipped
with the reason, and the monkeypatched ENOSPC tests still cover the code paths."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size`` (``"2m"``) for the duration; unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path, size: str) -> None:
    """Free space, as an operator would: the tmpfs at ``path`` grows to ``size``."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)
