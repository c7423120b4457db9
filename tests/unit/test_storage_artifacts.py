"""The artifact layer: Dflow's path / list / dict structure over any StorageClient.

Every test runs over the shared-filesystem store and over S3 (a real moto_server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcflow.errors import ChecksumMismatch, StorageError
from hpcflow.storage import (
    ArtifactRef,
    S3Credentials,
    S3Storage,
    SharedFSStorage,
    StorageClient,
    content_hash,
    fetch_artifact,
    stack_artifacts,
    store_artifact,
    sub_path,
)
from tests.s3_server import S3Server, s3_server_fixture


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    yield from s3_server_fixture()


@pytest.fixture(params=["shared", pytest.param("s3", marks=pytest.mark.s3)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> StorageClient:
    if request.param == "shared":
        return SharedFSStorage(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    creds = S3Credentials(server.access_key, server.secret_key)
    return S3Storage(server.endpoint_url, server.new_bucket(), "runs", credentials=creds)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def roundtrip(client: StorageClient, value: object, tmp_path: Path) -> tuple[ArtifactRef, object]:
    ref = store_artifact(client, "wf-1/step a/out", value)
    ref = ArtifactRef.from_json(json.loads(json.dumps(ref.to_json())))  # as the engine stores it
    return ref, fetch_artifact(client, ref, tmp_path / "fetched")


def test_single_file(client: StorageClient, tmp_path: Path) -> None:
    f = write(tmp_path / "in" / "energy.txt", "-1.5\n")
    ref, back = roundtrip(client, f, tmp_path)
    assert ref.kind == "path"
    assert isinstance(back, Path) and back.name == "energy.txt"
    assert back.read_text() == "-1.5\n"


def test_directory(client: StorageClient, tmp_path: Path) -> None:
    d = tmp_path / "in" / "traj"
    write(d / "a.xyz", "a")
    write(d / "deep" / "b.xyz", "b")
    ref, back = roundtrip(client, str(d), tmp_path)
    assert isinstance(back, Path) and back.is_dir()
    assert content_hash(back) == content_hash(d)
    (tmp_path / "empty").mkdir()
    (back,) = fetch_artifact(
        client, store_artifact(client, "wf/e", [tmp_path / "empty"]), tmp_path / "e"
    )
    assert back.is_dir() and not list(back.iterdir())


def test_list_keeps_order_and_same_basenames(client: StorageClient, tmp_path: Path) -> None:
    files = [write(tmp_path / "in" / str(i) / "out.txt", f"item {i}") for i in (3, 1, 2)]
    ref, back = roundtrip(client, files, tmp_path)
    assert ref.kind == "list"
    assert isinstance(back, list)
    assert [p.read_text() for p in back] == ["item 3", "item 1", "item 2"]
    assert len(set(ref.keys())) == 3


def test_dict_and_nested_dict(client: StorageClient, tmp_path: Path) -> None:
    value = {
        "model": write(tmp_path / "in" / "m.pt", "weights"),
        "odd key/with slash": write(tmp_path / "in" / "x.txt", "x"),
        "..": write(tmp_path / "in" / "dots.txt", "dots"),
        "nested": {
            "z": write(tmp_path / "in" / "z.txt", "z"),
            "a": [write(tmp_path / "in" / "l0.txt", "l0"), write(tmp_path / "in" / "l1.txt", "l1")],
        },
    }
    ref, back = roundtrip(client, value, tmp_path)
    assert isinstance(back, dict)
    assert list(back) == ["model", "odd key/with slash", "..", "nested"]
    assert list(back["nested"]) == ["z", "a"]
    assert back["model"].read_text() == "weights"
    assert back["odd key/with slash"].read_text() == "x"
    assert back[".."].read_text() == "dots"
    assert [p.read_text() for p in back["nested"]["a"]] == ["l0", "l1"]
    for path in [back["model"], back[".."], *back["nested"]["a"]]:
        assert (tmp_path / "fetched") in path.parents


def test_sub_path(client: StorageClient, tmp_path: Path) -> None:
    d = tmp_path / "in" / "run"
    write(d / "logs" / "out.log", "log")
    write(d / "result.json", "{}")
    value = {"runs": [d, write(tmp_path / "in" / "f.txt", "f")], "other": d}
    ref = store_artifact(client, "wf/sp", value)
    assert sub_path(ref, "runs/1").keys() == [ref.keys()[1]]
    log = fetch_artifact(client, sub_path(ref, "runs/0/logs/out.log"), tmp_path / "a")
    assert log == tmp_path / "a" / "out.log" and log.read_text() == "log"
    logs = fetch_artifact(client, sub_path(ref, "other/logs"), tmp_path / "b")
    assert (logs / "out.log").read_text() == "log"
    for bad in ["nope", "runs/2", "runs/x", "runs/1/inside-a-file"]:
        with pytest.raises(StorageError, match="sub_path"):
            sub_path(ref, bad)


def test_stacking_slices(client: StorageClient, tmp_path: Path) -> None:
    refs = [
        store_artifact(
            client, f"wf/slices/{i}", write(tmp_path / f"s{i}" / "out.txt", f"slice {i}")
        )
        for i in range(4)
    ]
    listed = store_artifact(
        client,
        "wf/slices/4",
        [write(tmp_path / "s4" / "a", "4a"), write(tmp_path / "s4" / "b", "4b")],
    )
    stacked = stack_artifacts([*refs, listed])
    back = fetch_artifact(client, ArtifactRef.from_json(stacked.to_json()), tmp_path / "stacked")
    assert [p.read_text() for p in back] == ["slice 0", "slice 1", "slice 2", "slice 3", "4a", "4b"]
    nested = stack_artifacts([refs[0], listed], flatten=False)
    assert [type(x) for x in fetch_artifact(client, nested, tmp_path / "n")] == [
        type(back[0]),
        list,
    ]


def test_tampered_artifact_is_refused(client: StorageClient, tmp_path: Path) -> None:
    f = write(tmp_path / "in" / "data.txt", "good")
    ref = store_artifact(client, "wf/t", f)
    evil = write(tmp_path / "evil" / "data.txt", "evil")
    # Replace the stored bytes through the store itself (an S3 manifest is rewritten to
    # match), so only the hash recorded in the ref can tell.
    client.upload(ref.keys()[0], str(evil))
    with pytest.raises(ChecksumMismatch, match=ref.keys()[0]):
        fetch_artifact(client, ref, tmp_path / "fetched")
    assert not (tmp_path / "fetched" / "data.txt").exists()


def test_bad_values_are_refused(client: StorageClient, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        store_artifact(client, "wf/x", {"a": [tmp_path / "missing"]})
    with pytest.raises(StorageError, match="is a int"):
        store_artifact(client, "wf/x", [1])
    with pytest.raises(StorageError, match="not JSON"):
        ArtifactRef.from_json("{nope")


def test_link_mode_on_the_shared_store(tmp_path: Path) -> None:
    store = SharedFSStorage(tmp_path / "store")
    ref = store_artifact(store, "wf/l", [write(tmp_path / "in" / "x", "x")])
    (back,) = fetch_artifact(store, ref, tmp_path / "attempt", link=True)
    assert back.is_symlink() and back.read_text() == "x"
