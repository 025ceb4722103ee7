"""Export files on a local directory shared by every process (a network volume scales out).

Files follow the database. A worker commits a `pending_files` row naming the storage key before
it creates `.partial-<key>.tmp`, renames that to `<key>` when it is complete (atomic, so a reader
never sees a partial file), and then, in one transaction, turns the pending row into an
`export_files` row. So every export file here is covered by a committed row, and the sweeper
(`app/exports/sweeper.py`) may remove an export file that no row covers, and a pending row's
files once its claim is no longer held.

Only names this module gives out count as export files (`file_<ULID>.<extension>` and their temp
names): anything else in the directory is never touched. The directory is stamped with the
database's identity on first use, so two databases never sweep each other's files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX, TEMP_SUFFIX = ".partial-", ".tmp"
KEY = re.compile(r"file_[0-9A-HJKMNP-TV-Z]{26}\.[a-z]{2,8}")
"""The names `new_id("file")` and a format's extension give: the only files storage owns."""
STAMP = ".database"


class ForeignStorage(Exception):
    """The directory holds another database's files (its stamp names another database)."""


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

    def listing(self, *, older_than: float) -> Iterator[tuple[str, bool]]:
        """(key, is_temp) for every export file here last written before `older_than` (a
        POSIX time); names storage did not give out are not listed."""
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                is_temp = name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
                key = name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)] if is_temp else name
                if not KEY.fullmatch(key) or not entry.is_file(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat(follow_symlinks=False).st_mtime < older_than:
                        yield key, is_temp

    def claim_for(self, database_id: str) -> None:
        """Stamp the directory with the database it serves, or raise ForeignStorage when it
        already serves another: a sweeper must only judge files its database wrote."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = self.root / STAMP
        try:
            fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            found = stamp.read_text().strip()
            if found != database_id:
                raise ForeignStorage(
                    f"{self.root} holds the files of another database ({STAMP} says {found!r}"
                    f", this database is {database_id!r}): give each database its own STORAGE_DIR"
                ) from None
            return
        with os.fdopen(fd, "w") as handle:
            handle.write(database_id + "\n")


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
