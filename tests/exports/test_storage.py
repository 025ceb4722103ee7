"""Export file storage (app.exports.storage): temp files, atomic publish, safe keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.exports.storage import HashingWriter, Storage


def test_temp_files_are_hidden_until_published(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "files")
    with storage.open_temp("file_1.csv") as handle:
        handle.write(b"partial")
    temp = storage.temp_path("file_1.csv")
    assert temp.parent == storage.root
    assert temp.name == ".partial-file_1.csv.tmp"
    assert not storage.exists("file_1.csv")
    storage.publish("file_1.csv")
    assert not temp.exists()
    assert storage.exists("file_1.csv")
    assert storage.path("file_1.csv").read_bytes() == b"partial"
    assert [p.name for p in storage.root.iterdir()] == ["file_1.csv"]


def test_publishing_a_swept_temp_file_fails_and_delete_is_idempotent(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    with storage.open_temp("k.json") as handle:
        handle.write(b"one")
    storage.delete("k.json")  # the temp file goes too
    with pytest.raises(FileNotFoundError):
        storage.publish("k.json")
    with storage.open_temp("k.json") as handle:
        handle.write(b"two")
    storage.publish("k.json")
    assert storage.path("k.json").read_bytes() == b"two"
    storage.delete("k.json")
    storage.delete("k.json")
    storage.delete("../escape")
    assert not storage.exists("k.json")


def test_listing_names_published_and_temp_files_and_nothing_else(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    assert list(Storage(tmp_path / "missing").listing()) == []
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / ".partial-b.json.tmp").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / ".partial-.tmp").write_text("x")
    (tmp_path / "sub").mkdir()
    assert sorted(storage.listing()) == [("a.csv", False), ("b.json", True)]


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
