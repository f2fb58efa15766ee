"""The archive's local storage refuses every key that could leave its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recorder.storage import LocalStorage, StorageError


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    root = tmp_path / "archive"
    (root / "recordings" / "s1").mkdir(parents=True)
    (root / "recordings" / "s1" / "a.webm").write_bytes(b"media")
    (tmp_path / "secret.key").write_text("do not serve")
    return LocalStorage(root)


def test_plain_keys_resolve(storage: LocalStorage) -> None:
    assert storage.local_path("recordings/s1/a.webm").read_bytes() == b"media"
    target = storage.new_path("exports/e1.webm")
    assert target.parent.is_dir() and target.is_relative_to(storage.root)


@pytest.mark.parametrize(
    "key",
    [
        "../secret.key",
        "recordings/../../secret.key",
        "recordings/s1/..",
        "/etc/passwd",
        "recordings\\s1\\a.webm",
        "recordings//s1/a.webm",
        ".hidden",
        "recordings/s1/a.webm\x00.txt",
        "",
        "a" * 2000,
    ],
)
def test_path_tricks_are_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(StorageError) as refused:
        storage.local_path(key)
    assert refused.value.code == "bad_name"


def test_symlink_out_of_the_folder_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.key", storage.root / "recordings" / "s1" / "b.webm")
    with pytest.raises(StorageError) as refused:
        storage.local_path("recordings/s1/b.webm")
    assert refused.value.code == "bad_name"


def test_missing_file_is_not_found(storage: LocalStorage) -> None:
    with pytest.raises(StorageError) as refused:
        storage.local_path("recordings/s1/none.webm")
    assert refused.value.code == "not_found"
