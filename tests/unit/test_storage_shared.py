"""The shared-filesystem store: atomic publication, moves, symlinked inputs, hashes."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from hpcflow.errors import ChecksumMismatch, StorageError
from hpcflow.storage import SharedFSStorage, StorageClient, content_hash, verify
from hpcflow.storage.hashing import local_md5


def make_tree(root: Path, n: int = 3) -> Path:
    (root / "sub dir").mkdir(parents=True)
    for i in range(n):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "sub dir" / "ünï cödé $(x).dat").write_bytes(b"\x00\x01" * 100)
    return root


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if ".hpcflow-" in p.name]


@pytest.fixture
def store(tmp_path: Path) -> SharedFSStorage:
    return SharedFSStorage(tmp_path / "store")


def test_is_a_storage_client(store: SharedFSStorage) -> None:
    assert isinstance(store, StorageClient)


def test_file_and_directory_round_trip(store: SharedFSStorage, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    store.upload("wf/step/out", str(src))
    store.upload("wf/step/one.txt", str(src / "f1.txt"))
    store.download("wf/step/out", str(tmp_path / "back"))
    store.download("wf/step/one.txt", str(tmp_path / "one.txt"))
    assert content_hash(tmp_path / "back") == content_hash(src)
    assert (tmp_path / "one.txt").read_text() == "file 1\n"
    assert store.list("wf/step/") == ["wf/step/one.txt", "wf/step/out/"]
    assert store.list("wf/step/o") == ["wf/step/one.txt", "wf/step/out/"]
    assert store.list("wf/step/out", recursive=True) == [
        "wf/step/out/f0.txt",
        "wf/step/out/f1.txt",
        "wf/step/out/f2.txt",
        "wf/step/out/sub dir/ünï cödé $(x).dat",
    ]
    assert store.list("nothing/here") == []
    assert store.list("w", recursive=True) == store.list("wf/step/", recursive=True)
    with pytest.raises(StorageError):
        store.list("../etc/")
    assert not leftovers(store.root)


def test_copy_and_md5(store: SharedFSStorage, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    store.upload("a", str(src))
    store.copy("a", "b/c")
    assert store.get_md5("b/c") == store.get_md5("a") == local_md5(src)
    assert store.get_md5("a/f0.txt") == local_md5(src / "f0.txt")
    with pytest.raises(StorageError, match="no artifact at key 'missing'"):
        store.get_md5("missing")


@pytest.mark.parametrize(
    "bad", ["", "/", "../x", "a/../b", "a//b", "a/./b", "a/.hpcflow-manifest.json"]
)
def test_keys_cannot_escape(store: SharedFSStorage, tmp_path: Path, bad: str) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(StorageError):
        store.upload(bad, str(tmp_path / "f"))


def _flaky_copy2(after: int):
    """shutil.copy2 that dies (like a killed job) after ``after`` files."""
    real = shutil.copy2
    calls = {"n": 0}

    def copy2(src: str, dst: str, **kw: object) -> str:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError("simulated crash in the middle of the copy")
        return real(src, dst, **kw)  # type: ignore[arg-type]

    return copy2


def test_interrupted_directory_upload_leaves_nothing(
    store: SharedFSStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_tree(tmp_path / "src", n=10)
    monkeypatch.setattr(shutil, "copy2", _flaky_copy2(after=4))
    with pytest.raises(StorageError, match="cannot copy .*simulated crash"):
        store.upload("wf/out", str(src))
    assert not store.path_of("wf/out").exists()
    assert store.list("wf/", recursive=True) == []
    assert not leftovers(store.root)


def test_interrupted_overwrite_keeps_the_old_version(
    store: SharedFSStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_tree(tmp_path / "old", n=2)
    store.upload("wf/out", str(old))
    new = make_tree(tmp_path / "new", n=10)
    (new / "f0.txt").write_text("changed")
    monkeypatch.setattr(shutil, "copy2", _flaky_copy2(after=5))
    with pytest.raises(StorageError):
        store.upload("wf/out", str(new))
    store.verify("wf/out", content_hash(old))
    monkeypatch.undo()
    store.upload("wf/out", str(new))
    store.verify("wf/out", content_hash(new))
    assert not leftovers(store.root)


def test_interrupted_file_upload_leaves_nothing(
    store: SharedFSStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "big").write_bytes(b"x" * 1000)
    monkeypatch.setattr(shutil, "copy2", _flaky_copy2(after=0))
    with pytest.raises(StorageError):
        store.upload("k/big", str(tmp_path / "big"))
    assert store.list("k/", recursive=True) == []
    assert not leftovers(store.root)


def test_reader_never_sees_a_partial_directory(store: SharedFSStorage, tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    for i in range(300):
        (src / f"{i:03d}").write_text(str(i))
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        target = store.path_of("wf/many")
        while not done.is_set():
            if target.exists():
                seen.append(len(os.listdir(target)))

    t = threading.Thread(target=reader)
    t.start()
    try:
        store.upload("wf/many", str(src))
    finally:
        done.set()
        t.join()
    assert all(n == 300 for n in seen)


def test_publish_moves_without_copying(store: SharedFSStorage, tmp_path: Path) -> None:
    out = make_tree(tmp_path / "attempt" / "outputs" / "result")
    inode = out.stat().st_ino
    expected = content_hash(out)
    dest = store.publish(out, "wf/step/result")
    assert dest == store.path_of("wf/step/result")
    assert dest.stat().st_ino == inode  # same directory: renamed, not copied
    assert not out.exists()
    assert content_hash(dest) == expected
    (tmp_path / "f").write_text("v2")
    ino = (tmp_path / "f").stat().st_ino
    assert store.publish(tmp_path / "f", "wf/step/result").stat().st_ino == ino  # replaces


def test_publish_across_filesystems_copies(store: SharedFSStorage, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if (
        not shm.is_dir()
        or not os.access(shm, os.W_OK)
        or shm.stat().st_dev == tmp_path.stat().st_dev
    ):
        pytest.skip("no second filesystem to publish from")
    src = make_tree(Path(tempfile.mkdtemp(dir=shm)) / "result")
    expected = content_hash(src)
    try:
        dest = store.publish(src, "wf/x")
        assert content_hash(dest) == expected
        assert not src.exists()
    finally:
        shutil.rmtree(src.parent, ignore_errors=True)


def test_link_into_symlinks_inputs(store: SharedFSStorage, tmp_path: Path) -> None:
    store.upload("wf/in", str(make_tree(tmp_path / "src")))
    link = store.link_into("wf/in", tmp_path / "attempt" / "inputs" / "in")
    assert link.is_symlink()
    assert os.path.samefile(link, store.path_of("wf/in"))
    assert (link / "f0.txt").read_text() == "file 0\n"
    again = store.link_into("wf/in", link)  # relinking (a retry) is fine
    assert again.is_symlink()
    (tmp_path / "occupied").write_text("x")
    with pytest.raises(StorageError, match="already there"):
        store.link_into("wf/in", tmp_path / "occupied")
    with pytest.raises(StorageError, match="no artifact"):
        store.link_into("wf/none", tmp_path / "x")


def test_content_hash_covers_names_and_bytes_not_times(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    os.utime(b / "f0.txt", (1, 1))
    assert content_hash(a) == content_hash(b)
    (b / "f0.txt").rename(b / "g0.txt")
    assert content_hash(a) != content_hash(b)
    assert content_hash(a / "f0.txt") == content_hash(b / "g0.txt")
    with pytest.raises(StorageError):
        content_hash(tmp_path / "missing")


def test_tampering_is_detected(store: SharedFSStorage, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    recorded = content_hash(src)
    store.upload("wf/out", str(src))
    store.verify("wf/out", recorded)
    victim = store.path_of("wf/out") / "f2.txt"
    victim.write_text("file 2 but evil\n")
    actual = content_hash(store.path_of("wf/out"))
    with pytest.raises(ChecksumMismatch) as info:
        verify(store.path_of("wf/out"), recorded)
    msg = str(info.value)
    assert str(store.path_of("wf/out")) in msg and recorded in msg and actual in msg
