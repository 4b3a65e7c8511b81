"""Secrets kept in an instance folder: made once, by whichever process comes first.

Imports nothing from Parley. Used for the apps' session keys, the sandbox's signing token and
the sandbox's PIN pepper: values that must survive restarts and be shared by every worker,
and that belong to this installation only.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def instance_secret(folder: str | os.PathLike, name: str, *,
                    make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret stored in `folder/name` (mode 0600), created with `make()` if missing."""
    path = Path(folder) / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        # O_EXCL: when several workers start at once, exactly one writes; the others read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value
