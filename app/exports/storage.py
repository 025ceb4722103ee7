"""Export files on a local directory shared by every process (a network volume scales out).

Writers stream into a temporary file in the same directory; publishing is an atomic rename,
so a reader never sees a partial file and a crashed worker leaves only a temp file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if "/" in key or "\\" in key or key.startswith("."):
            raise ValueError("invalid storage key")
        return self.root / key

    def open_temp(self) -> tuple[BinaryIO, Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".partial-", suffix=".tmp")
        return os.fdopen(fd, "wb"), Path(name)

    def publish(self, temp: Path, key: str) -> None:
        target = self.path(key)
        os.replace(temp, target)

    def discard(self, temp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    def sweep_partials(self, *, older_than_seconds: float) -> int:
        """Remove temp files a killed worker left behind; a live writer keeps its file fresh."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.root.glob(".partial-*.tmp") if self.root.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.path(key).unlink()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()


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
