"""A StorageClient on S3 or any S3-compatible object store (MinIO, Ceph RGW, moto).

Used when nodes share no filesystem (cloud bursting) or a site prefers object storage.
Publication is atomic through a manifest written last (see :mod:`.manifest`); downloads
refuse keys without one and check every file's sha256. Credentials come only from the
environment or a private file (see :mod:`.credentials`) and never appear in messages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path
from typing import Any, Literal

from hpcflow.errors import ChecksumMismatch, StorageError
from hpcflow.storage.base import (
    MANIFEST_NAME,
    StorageUnavailable,
    check_key,
    is_internal_name,
)
from hpcflow.storage.credentials import S3Credentials, load_credentials
from hpcflow.storage.fsutil import install
from hpcflow.storage.hashing import file_sha256, iter_files, tree_md5
from hpcflow.storage.manifest import FileEntry, Manifest

_MB = 1024 * 1024
#: S3 refuses multipart parts smaller than 5 MiB (except the last).
_MIN_PART = 5 * _MB


class S3Storage:
    """Artifacts as objects under ``s3://bucket/prefix/``."""

    def __init__(
        self,
        endpoint_url: str | None,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        credentials: S3Credentials | None = None,
        multipart_threshold_mb: float = 64,
        *,
        max_workers: int = 4,
        max_attempts: int = 5,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region or "us-east-1"
        self.max_workers = max(1, max_workers)
        creds = credentials if credentials is not None else load_credentials(None)
        self._credentials_source = creds.source
        try:
            import boto3
        except ImportError:
            # A step image without boto3 (a Kubernetes pod): the standard-library client.
            from hpcflow.storage.s3_plain import PlainS3Client

            self.transfer_config: Any = None
            self._client: Any = PlainS3Client(endpoint_url, self.region, creds.access_key_id,
                                              creds.secret_access_key, creds.session_token,
                                              max_attempts=max_attempts)
            return
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        threshold = max(1, int(multipart_threshold_mb * _MB))
        self.transfer_config = TransferConfig(
            multipart_threshold=threshold,
            multipart_chunksize=max(threshold, _MIN_PART),
            max_concurrency=self.max_workers,
        )
        # An explicit session: boto3 must not fall back to ~/.aws or instance metadata.
        session = boto3.session.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=self.region,
        )
        self._client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": max_attempts, "mode": "standard"},
                max_pool_connections=max(10, self.max_workers * 2),
            ),
        )

    def __repr__(self) -> str:
        return (
            f"S3Storage(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r}, "
            f"prefix={self.prefix!r}, credentials from {self._credentials_source})"
        )

    __str__ = __repr__

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> S3Storage:
        """Build from a site's ``[storage]`` settings (endpoint_url, bucket, prefix, region,
        credentials_file, multipart_threshold_mb); credentials come from that file or the
        environment only."""
        bucket = settings.get("bucket")
        if not bucket:
            raise StorageError("S3 storage settings need a bucket")
        threshold = settings.get("multipart_threshold_mb")
        return cls(
            settings.get("endpoint_url"),
            str(bucket),
            str(settings.get("prefix") or ""),
            settings.get("region"),
            load_credentials(settings.get("credentials_file")),
            float(threshold) if threshold is not None else 64,
        )

    # -- keys and errors ----------------------------------------------------------------
    def _obj(self, key: str) -> str:
        """The object name of a key (or key/rel) inside the bucket."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def _url(self, obj: str) -> str:
        return f"s3://{self.bucket}/{obj}"

    @contextmanager
    def _errors(self, action: str, obj: str) -> Iterator[None]:
        """Turn botocore errors into StorageError naming the object; no secrets in them."""
        answers, unreachable, failures = _error_classes()
        try:
            yield
        except answers as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "?")
            raise StorageError(f"S3 {action} of {self._url(obj)} failed: {code}") from exc
        except unreachable as exc:
            raise StorageUnavailable(
                f"S3 endpoint {self.endpoint_url} did not answer during {action} of "
                f"{self._url(obj)}"
            ) from exc
        except failures as exc:
            raise StorageError(f"S3 {action} of {self._url(obj)} failed: {exc}") from exc

    # -- manifests ----------------------------------------------------------------------
    def _get_manifest(self, key: str) -> Manifest | None:
        obj = self._obj(f"{key}/{MANIFEST_NAME}")
        try:
            with self._errors("read", obj):
                body = self._client.get_object(Bucket=self.bucket, Key=obj)["Body"].read()
        except StorageError as exc:
            cause = exc.__cause__
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise
        return Manifest.from_json(body, self._url(obj))

    def manifest(self, key: str) -> Manifest:
        """The manifest covering ``key`` (its own, or an ancestor directory's).

        Raises StorageError when there is none: the upload was interrupted or never made.
        """
        key = check_key(key)
        own = self._get_manifest(key)
        if own is not None:
            return own
        parts = key.split("/")
        for cut in range(len(parts) - 1, 0, -1):
            parent = self._get_manifest("/".join(parts[:cut]))
            if parent is not None:
                covered = parent.covering("/".join(parts[cut:]))
                if covered is not None:
                    return covered
                break
        raise StorageError(f"artifact {key} is incomplete (no manifest)")

    def _put_manifest(self, key: str, manifest: Manifest) -> None:
        obj = self._obj(f"{key}/{MANIFEST_NAME}")
        with self._errors("write", obj):
            self._client.put_object(
                Bucket=self.bucket,
                Key=obj,
                Body=manifest.to_json().encode(),
                ContentType="application/json",
            )

    def _delete(self, objs: list[str]) -> None:
        for start in range(0, len(objs), 1000):
            batch = [{"Key": o} for o in objs[start : start + 1000]]
            with self._errors("delete", batch[0]["Key"]):
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})

    def _file_obj(self, key: str, entry: FileEntry) -> str:
        return self._obj(f"{key}/{entry.path}" if entry.path else key)

    def _map(self, fn: Any, items: list[Any]) -> None:
        if len(items) <= 1 or self.max_workers == 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(self.max_workers) as pool:
            for _ in pool.map(fn, items):
                pass

    def _begin_write(self, key: str) -> Manifest | None:
        """Withdraw an existing manifest so a half-done overwrite reads as incomplete."""
        old = self._get_manifest(key)
        if old is not None:
            self._delete([self._obj(f"{key}/{MANIFEST_NAME}")])
        return old

    def _finish_write(self, key: str, new: Manifest, old: Manifest | None) -> None:
        self._put_manifest(key, new)  # LAST: this is what makes the artifact visible
        if old is not None:
            keep = {self._file_obj(key, f) for f in new.files}
            stale = [o for o in (self._file_obj(key, f) for f in old.files) if o not in keep]
            if stale:
                self._delete(stale)

    # -- StorageClient ------------------------------------------------------------------
    def upload(self, key: str, path: str | os.PathLike[str]) -> None:
        """Upload a file or directory: every file first, the manifest last."""
        key = check_key(key)
        src = Path(path)
        kind: Literal["file", "dir"]
        if src.is_file():
            files = [("", src)]
            kind = "file"
        elif src.is_dir():
            files = list(iter_files(src))
            kind = "dir"
            for rel, _ in files:
                if MANIFEST_NAME in rel.split("/"):
                    raise StorageError(
                        f"cannot upload {src}: {rel} uses a name reserved by hpcflow"
                    )
        else:
            raise StorageError(f"cannot upload {src} to key {key!r}: no such file or directory")
        old = self._begin_write(key)

        def put(item: tuple[str, Path]) -> FileEntry:
            rel, local = item
            entry = FileEntry(rel, local.stat().st_size, file_sha256(local))
            obj = self._file_obj(key, entry)
            with self._errors("upload", obj):
                self._client.upload_file(str(local), self.bucket, obj, Config=self.transfer_config)
            return entry

        if len(files) > 1 and self.max_workers > 1:
            with ThreadPoolExecutor(self.max_workers) as pool:
                entries = list(pool.map(put, files))
        else:
            entries = [put(item) for item in files]
        self._finish_write(key, Manifest(kind, tuple(entries)), old)

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Download a complete artifact to ``path``, verifying every file's sha256."""
        key = check_key(key)
        manifest = self.manifest(key)
        dest = Path(path).absolute()
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.hpcflow-tmp-", dir=dest.parent))
        try:
            root = staging / "artifact"
            if manifest.kind == "dir":
                root.mkdir()

            def get(entry: FileEntry) -> None:
                local = root / entry.path if entry.path else root
                local.parent.mkdir(parents=True, exist_ok=True)
                obj = self._file_obj(key, entry)
                with self._errors("download", obj):
                    self._client.download_file(
                        self.bucket, obj, str(local), Config=self.transfer_config
                    )
                actual = file_sha256(local)
                if actual != entry.sha256:
                    raise ChecksumMismatch(
                        f"{self._url(obj)} (artifact {key}) does not match its manifest: "
                        f"expected sha256 {entry.sha256}, got {actual}"
                    )

            self._map(get, list(manifest.files))
            install(root, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        """Keys under ``prefix``; manifests are hidden; sub-prefixes end in '/'."""
        full = self._obj(prefix.lstrip("/"))
        strip = len(self.prefix) + 1 if self.prefix else 0
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": full}
        if not recursive:
            args["Delimiter"] = "/"
        found: list[str] = []
        with self._errors("list", full):
            for page in self._client.get_paginator("list_objects_v2").paginate(**args):
                for obj in page.get("Contents", []):
                    name = obj["Key"]
                    if not is_internal_name(name.rsplit("/", 1)[-1]):
                        found.append(name[strip:])
                for sub in page.get("CommonPrefixes", []):
                    found.append(sub["Prefix"][strip:])
        # A file key K has its manifest at K/...; do not report that as a directory "K/".
        files = set(found)
        return sorted(k for k in found if not (k.endswith("/") and k[:-1] in files))

    def copy(self, src: str, dst: str) -> None:
        """Server-side copy of a complete artifact; the destination's manifest goes last."""
        src, dst = check_key(src), check_key(dst)
        manifest = self.manifest(src)
        old = self._begin_write(dst)

        def cp(entry: FileEntry) -> None:
            source, target = self._file_obj(src, entry), self._file_obj(dst, entry)
            with self._errors("copy", source):
                self._client.copy(
                    {"Bucket": self.bucket, "Key": source},
                    self.bucket,
                    target,
                    Config=self.transfer_config,
                )

        self._map(cp, list(manifest.files))
        self._finish_write(dst, manifest, old)

    def get_md5(self, key: str) -> str:
        """md5 of a file (from its ETag when that is an md5), or of a directory's files."""
        key = check_key(key)
        manifest = self.manifest(key)
        digests = [(f.path, self._object_md5(self._file_obj(key, f))) for f in manifest.files]
        return digests[0][1] if manifest.kind == "file" else tree_md5(digests)

    def _object_md5(self, obj: str) -> str:
        with self._errors("head", obj):
            head = self._client.head_object(Bucket=self.bucket, Key=obj)
        etag = str(head.get("ETag", "")).strip('"')
        # A multipart ETag ("<md5 of md5s>-<parts>") or an SSE-KMS one is no file md5.
        kms = head.get("ServerSideEncryption") == "aws:kms" or "SSECustomerAlgorithm" in head
        if etag and "-" not in etag and not kms:
            return etag
        h = hashlib.md5()
        with self._errors("read", obj):
            body = self._client.get_object(Bucket=self.bucket, Key=obj)["Body"]
            for chunk in iter(lambda: body.read(_MB), b""):
                h.update(chunk)
        return h.hexdigest()

    # -- small records (Kubernetes staging: task lists, task and exit records) ---------
    def get_bytes(self, key: str) -> bytes | None:
        """The object at ``key`` (no manifest), or ``None`` when there is none."""
        obj = self._obj(check_key(key))
        try:
            with self._errors("read", obj):
                return bytes(self._client.get_object(Bucket=self.bucket, Key=obj)["Body"].read())
        except StorageError as exc:
            code = getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None
            raise

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        """One small object at ``key``, written whole (S3 PUTs are atomic)."""
        obj = self._obj(check_key(key))
        with self._errors("write", obj):
            self._client.put_object(Bucket=self.bucket, Key=obj, Body=data, ContentType=content_type)

    def object_name(self, key: str) -> str:
        """The bucket-level object name for ``key`` (for diagnostics and tests)."""
        return self._obj(check_key(key))


_Errors = tuple[type[Exception], ...]


def _error_classes() -> tuple[_Errors, _Errors, _Errors]:
    """The exceptions of the S3 client in use: (error answers carrying a code, an endpoint
    that does not answer, other client failures)."""
    from hpcflow.storage.s3_plain import PlainS3Error

    connection: _Errors = (ConnectionError, TimeoutError, HTTPException)
    try:
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
    except ImportError:  # the standard-library client (no boto3 in this image)
        return (PlainS3Error,), connection, ()
    return (ClientError, PlainS3Error), (EndpointConnectionError, *connection), (BotoCoreError,)
