"""Where recordings and exports live: a small protocol, local disk by default.

Keys are relative POSIX paths of plain names (``recordings/<session>/<file>``); a key
that could leave the storage root (``..``, absolute, backslash, hidden names, symlinks
out of the root) is refused before any file system call looks at it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class StorageError(Exception):
    """A key was refused or names nothing; ``code`` is stable for API errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_name(name: str) -> str:
    """One safe path component (a session id, a file name), else :class:`StorageError`."""
    if not _COMPONENT.match(name) or ".." in name:
        raise StorageError("bad_name", "names may hold letters, digits, '.', '_' and '-' only")
    return name


def check_key(key: str) -> list[str]:
    parts = key.split("/")
    if not key or len(key) > 1024:
        raise StorageError("bad_name", "empty or over-long storage key")
    for part in parts:
        check_name(part)
    return parts


class Storage(Protocol):
    """Files of the archive; an S3-compatible store would download to a cache in
    ``local_path`` and upload in ``commit``."""

    def local_path(self, key: str) -> Path:
        """A readable local file for ``key``; StorageError ``not_found`` if none."""

    def new_path(self, key: str) -> Path:
        """A local path where a new file for ``key`` may be written."""

    def commit(self, key: str) -> None:
        """The file written at ``new_path(key)`` is complete."""


class LocalStorage:
    """Files under one root folder on local disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*check_key(key))
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root) or path != resolved:
            raise StorageError("bad_name", "the key leaves the storage folder")
        return resolved

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise StorageError("not_found", f"no file {key}")
        return path

    def new_path(self, key: str) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, key: str) -> None:
        self.local_path(key)
