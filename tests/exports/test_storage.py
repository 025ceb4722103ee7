"""Export file storage (app.exports.storage): temp files, atomic publish, safe keys."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from app.exports.storage import HashingWriter, Storage


def test_temp_files_are_hidden_until_published(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "files")
    handle, temp = storage.open_temp()
    with handle:
        handle.write(b"partial")
    assert temp.parent == storage.root
    assert temp.name.startswith(".partial-")
    assert not storage.exists("file_1.csv")
    storage.publish(temp, "file_1.csv")
    assert not temp.exists()
    assert storage.exists("file_1.csv")
    assert storage.path("file_1.csv").read_bytes() == b"partial"
    assert [p.name for p in storage.root.iterdir()] == ["file_1.csv"]


def test_publishing_replaces_atomically_and_discard_is_idempotent(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    for content in (b"one", b"two"):
        handle, temp = storage.open_temp()
        with handle:
            handle.write(content)
        storage.publish(temp, "k.json")
    assert storage.path("k.json").read_bytes() == b"two"
    handle, temp = storage.open_temp()
    handle.close()
    storage.discard(temp)
    storage.discard(temp)
    assert not temp.exists()
    storage.delete("k.json")
    storage.delete("k.json")
    storage.delete("../escape")
    assert not storage.exists("k.json")


@pytest.mark.parametrize("key", ["../x", "a/b", "a\\b", ".partial-x.tmp", ".", ".."])
def test_keys_cannot_leave_the_directory_or_name_temp_files(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        Storage(tmp_path).path(key)


def test_hashing_writer_counts_and_hashes_what_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "out"
    chunks = [b"header\r\n", b"", b"row 1\r\n", "row ü\r\n".encode()]
    with path.open("wb") as handle:
        writer = HashingWriter(handle)
        for chunk in chunks:
            writer.write(chunk)
    data = path.read_bytes()
    assert data == b"".join(chunks)
    assert writer.size == len(data)
    assert writer.digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_sweep_removes_only_stale_partial_files(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    stale_handle, stale = storage.open_temp()
    fresh_handle, fresh = storage.open_temp()
    stale_handle.close()
    fresh_handle.close()
    published = tmp_path / "file_1.csv"
    published.write_text("id\n")
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))
    os.utime(published, (old, old))

    assert storage.sweep_partials(older_than_seconds=24 * 3600) == 1
    assert not stale.exists()
    assert fresh.exists()
    assert published.exists()
