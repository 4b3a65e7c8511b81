"""The instance folder: owner-only files and folders, and the secrets kept in them.

Imports nothing from Parley. `private_folder` and `private_file` are how every part of Parley
makes a folder or file that holds data (the database and its lock files, the instance folder,
stored photos): folders 0700, files 0600, whatever the umask. `instance_secret` keeps the apps'
session keys, the sandbox's signing token, PIN pepper and data key: values that must survive
restarts and be shared by every worker, and that belong to this installation only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER_MODE = 0o700
FILE_MODE = 0o600
PIN_PEPPER_FILE = "pin_pepper"


def instance_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The instance folder the commands and `parley up` share: $PARLEY_INSTANCE_PATH, else
    instance/ beside the packages (Flask's default for the apps)."""
    return Path(environ.get("PARLEY_INSTANCE_PATH") or ROOT / "instance")


def private_folder(folder: str | os.PathLike, *, tighten: bool = False) -> Path:
    """`folder`, made with mode 0700, and so are the missing folders above it. Folders that
    existed are left alone, except `folder` itself with `tighten` (one of Parley's own, such
    as the instance folder, made by an earlier version under a permissive umask)."""
    path = Path(folder)
    missing = []
    cursor = path
    while not cursor.exists():
        missing.append(cursor)
        if cursor.parent == cursor:
            break
        cursor = cursor.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            part.mkdir(mode=FOLDER_MODE)
        _tighten(part, FOLDER_MODE)
    if not missing and tighten:
        _tighten(path, FOLDER_MODE)
    return path


def private_file(path: str | os.PathLike) -> Path:
    """`path` as an owner-only file (0600): created empty if missing, tightened if not."""
    path = Path(path)
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    return path


def write_private(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to an owner-only file (0600), replacing what was there at once: a reader
    sees the old content or the new, never half of it (a key file must never be torn)."""
    path = Path(path)
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def open_private(path: str | os.PathLike, flags: int) -> int:
    """os.open of an owner-only file (created 0600): for lock files kept open."""
    private_folder(Path(path).parent)
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    return fd


def instance_secret(folder: str | os.PathLike, name: str, *,
                    make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret stored in `folder/name` (mode 0600), created with `make()` if missing."""
    path = Path(folder) / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    private_folder(path.parent, tighten=True)
    value = make()
    try:
        # O_EXCL: when several workers start at once, exactly one writes; the others read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def sandbox_pin_pepper(folder: str | os.PathLike, *, create: bool = True) -> str | None:
    """The sandbox's PIN pepper, kept in `folder`: made by `parley up`, read by the commands
    (`create=False`: None when the sandbox never ran there)."""
    if not create and not (Path(folder) / PIN_PEPPER_FILE).exists():
        return None
    return instance_secret(folder, PIN_PEPPER_FILE, make=lambda: secrets.token_urlsafe(32))


def tighten(path: str | os.PathLike) -> None:
    """Make an existing file of ours owner-only (0600); nothing if it does not exist."""
    _tighten(Path(path), FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    # Only what we own can be changed; a shared folder of someone else's is left as it is.
    with contextlib.suppress(OSError):
        current = path.stat()
        if current.st_uid == os.getuid() and stat.S_IMODE(current.st_mode) != mode:
            path.chmod(mode)
