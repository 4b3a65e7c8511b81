"""Playwright (sync API) on Debian's chromium.

Playwright's own browser download cannot work on these machines (no network but package
registries), so tests launch the chromium that scripts/setup installs with apt.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, chromium keeps trying to reach Google's services through a
    # closed network, with many refused connections at every start.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError("chromium is missing: run scripts/setup")
    return path


def launch_chromium(playwright, **kwargs):
    """Launch headless Debian chromium: `with sync_playwright() as p: launch_chromium(p)`."""
    kwargs.setdefault("headless", True)
    kwargs["args"] = CHROMIUM_ARGS + list(kwargs.get("args", []))
    return playwright.chromium.launch(executable_path=chromium_path(), **kwargs)


def screenshot_dir() -> Path:
    """Where browser tests save screenshots for reviewers (not committed)."""
    path = REPO_ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
