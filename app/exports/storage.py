"""Export files on a local directory shared by every process (a network volume scales out).

Files follow the database. A worker commits a `pending_files` row naming the storage key before
it creates `.partial-<key>.tmp`, renames that to `<key>` when it is complete (atomic, so a reader
never sees a partial file), and then, in one transaction, turns the pending row into an
`export_files` row. So every file here is covered by a committed row, and the sweeper
(`app/exports/sweeper.py`) may remove any file that no row covers, and a pending row's files
once its claim is no longer held.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX, TEMP_SUFFIX = ".partial-", ".tmp"


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith(".") or "\x00" in key:
            raise ValueError("invalid storage key")
        return self.root / key

    def temp_path(self, key: str) -> Path:
        self.path(key)  # the same rules
        return self.root / f"{TEMP_PREFIX}{key}{TEMP_SUFFIX}"

    def open_temp(self, key: str) -> BinaryIO:
        """The temp file a worker writes `key` into; its pending row must be committed first."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.temp_path(key).open("wb")

    def publish(self, key: str) -> None:
        """Rename the finished temp file to its key; FileNotFoundError if it was swept."""
        os.replace(self.temp_path(key), self.path(key))

    def delete(self, key: str) -> None:
        """Remove the file and its temp, whichever exist; a key no file can have is ignored."""
        with contextlib.suppress(ValueError):
            for path in (self.temp_path(key), self.path(key)):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    path.unlink()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def listing(self) -> Iterator[tuple[str, bool]]:
        """(key, is_temp) for every file here; anything not named by this module is ignored."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                name = entry.name
                if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                    key = name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)]
                    if key and not key.startswith("."):
                        yield key, True
                elif not name.startswith("."):
                    yield name, False


class HashingWriter:
    """Counts bytes and computes SHA-256 while writing, so a file is read once."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        if data:
            self.handle.write(data)
            self.size += len(data)
            self.digest.update(data)
