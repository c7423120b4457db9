"""S3 credentials, manifests, S3 settings and the test-server helper: no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import StorageError
from hpcflow.storage import S3Credentials, load_credentials
from hpcflow.storage.manifest import FileEntry, Manifest

SECRET = "s3cr3t-Value-that-must-never-leak"
ENV_NAMES = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "HPCFLOW_S3_ACCESS_KEY",
    "HPCFLOW_S3_SECRET_KEY",
    "HPCFLOW_S3_SESSION_TOKEN",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StorageError, match="no S3 credentials"):
        load_credentials(None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAWSAWSAWS")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok")
    creds = load_credentials(None)
    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == (
        "AKIAAWSAWSAWS",
        SECRET,
        "tok",
    )
    monkeypatch.setenv("HPCFLOW_S3_ACCESS_KEY", "hpc-key")
    monkeypatch.setenv("HPCFLOW_S3_SECRET_KEY", SECRET + "2")
    creds = load_credentials(None)
    assert creds.access_key_id == "hpc-key" and creds.source == "environment HPCFLOW_S3_*"


@pytest.mark.parametrize(
    "text",
    [
        f"[default]\naws_access_key_id = AK1\naws_secret_access_key = {SECRET}\n",
        f"access_key = AK1\nsecret_key = {SECRET}\n",
        f'{{"access_key_id": "AK1", "secret_access_key": "{SECRET}"}}',
    ],
)
def test_file_formats(tmp_path: Path, text: str) -> None:
    creds = load_credentials(private_file(tmp_path / "creds", text))
    assert creds.access_key_id == "AK1" and creds.secret_access_key == SECRET
    assert SECRET not in repr(creds) and SECRET not in str(creds) and SECRET not in f"{creds}"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = private_file(tmp_path / "creds", f"access_key=a\nsecret_key={SECRET}\n", mode)
    with pytest.raises(StorageError, match=f"mode {mode:04o}.*chmod 600") as info:
        load_credentials(path)
    assert SECRET not in str(info.value)


def test_parse_errors_do_not_quote_the_secret(tmp_path: Path) -> None:
    bad = private_file(tmp_path / "creds", f"[default]\naws_access_key_id AK1\n{SECRET}\n")
    with pytest.raises(StorageError, match="could not be parsed") as info:
        load_credentials(bad)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    bad_json = private_file(tmp_path / "c.json", f'{{"secret_key": "{SECRET}",,}}')
    with pytest.raises(StorageError, match="bad JSON") as info:
        load_credentials(bad_json)
    assert info.value.__context__ is None
    with pytest.raises(StorageError, match="needs aws_access_key_id"):
        load_credentials(private_file(tmp_path / "c2", "access_key = x\n"))
    with pytest.raises(StorageError, match="cannot read"):
        load_credentials(tmp_path / "absent")


def test_repr_hides_secrets() -> None:
    creds = S3Credentials("AKIAEXAMPLEKEY123", SECRET, "session-" + SECRET)
    assert "secret=<hidden>" in repr(creds)
    assert SECRET not in repr(creds) and "AKIAEXAMPLEKEY123" not in repr(creds)
    assert SECRET not in repr([creds]) and SECRET not in repr({"c": creds})


def test_manifest_round_trip_and_self_check() -> None:
    m = Manifest("dir", (FileEntry("a/b", 3, "0" * 64), FileEntry("c", 1, "1" * 64)))
    assert Manifest.from_json(m.to_json(), "here") == m
    assert m.covering("a/b") == Manifest("file", (FileEntry("", 3, "0" * 64),))
    assert m.covering("a") == Manifest("dir", (FileEntry("b", 3, "0" * 64),))
    assert m.covering("zzz") is None
    forged = m.to_json().replace("0" * 64, "2" * 64)
    with pytest.raises(StorageError, match="corrupt"):
        Manifest.from_json(forged, "here")
    with pytest.raises(StorageError, match="unreadable"):
        Manifest.from_json("[]", "here")


def test_s3_settings_need_a_bucket_and_credentials() -> None:
    from hpcflow.storage.remote import open_store

    with pytest.raises(StorageError, match="need a bucket"):
        open_store({"kind": "s3", "endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(StorageError, match="no S3 credentials"):
        open_store({"kind": "s3", "bucket": "b"})


def test_missing_s3_server_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import s3_server

    monkeypatch.setattr(s3_server, "_command", lambda: ["/nonexistent/moto_server"])
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        next(s3_server.s3_server_fixture())
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        next(s3_server.s3_server_fixture())
