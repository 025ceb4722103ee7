"""Export file storage (app.exports.storage): temp files, atomic publish, safe keys."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from app.exports.storage import ForeignStorage, HashingWriter, Storage

ONE, K = "file_01J0000000000000000000000A.csv", "file_01J0000000000000000000000B.json"


def test_temp_files_are_hidden_until_published(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "files")
    with storage.open_temp(ONE) as handle:
        handle.write(b"partial")
    temp = storage.temp_path(ONE)
    assert temp.parent == storage.root
    assert temp.name == f".partial-{ONE}.tmp"
    assert not storage.path(ONE).exists()
    storage.publish(ONE)
    assert not temp.exists()
    assert storage.path(ONE).is_file()
    assert storage.path(ONE).read_bytes() == b"partial"
    assert [p.name for p in storage.root.iterdir()] == [ONE]


def test_publishing_a_swept_temp_file_fails_and_delete_is_idempotent(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    with storage.open_temp(K) as handle:
        handle.write(b"one")
    storage.delete(K)  # the temp file goes too
    with pytest.raises(FileNotFoundError):
        storage.publish(K)
    with storage.open_temp(K) as handle:
        handle.write(b"two")
    storage.publish(K)
    assert storage.path(K).read_bytes() == b"two"
    storage.delete(K)
    storage.delete(K)
    storage.delete("../escape")
    assert not storage.path(K).exists()


def test_listing_names_only_export_files_old_enough(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    assert list(Storage(tmp_path / "missing").listing(older_than=time.time())) == []
    (tmp_path / ONE).write_text("x")
    storage.temp_path(K).write_text("x")
    for other in (".hidden", ".partial-.tmp", ".partial-x.tmp", "notes.txt", "exports.db"):
        (tmp_path / other).write_text("x")
    (tmp_path / "file_01J0000000000000000000000C.csv").mkdir()
    assert list(storage.listing(older_than=time.time() - 60)) == []  # all younger
    listed = sorted(storage.listing(older_than=time.time() + 1))
    assert listed == [(ONE, False), (K, True)]


def test_a_directory_serves_one_database(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "files")
    storage.claim_for("db-1")
    storage.claim_for("db-1")  # the same database again: fine
    with pytest.raises(ForeignStorage, match="another database"):
        storage.claim_for("db-2")


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
