"""A standard-library S3 client: the few calls the runtime makes, signed with SigV4.

Kubernetes pods run a step's own image, which has Python 3 but rarely boto3. So when
boto3 cannot be imported, :class:`~hpcflow.storage.s3.S3Storage` talks to S3 through this
client: path-style requests over ``http.client``, signed with AWS Signature Version 4,
with the same method names and argument shapes as the boto3 calls it replaces
(``get_object``, ``put_object``, ``head_object``, ``delete_objects``, ``upload_file``,
``download_file``). Uploads are single PUTs (S3's limit: 5 GiB per object); multipart
uploads, listing and copies need boto3.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import io
import os
import shutil
import time
import urllib.parse
from typing import Any
from xml.etree import ElementTree

from hpcflow.storage.hashing import file_sha256

_SINGLE_PUT_LIMIT = 5 * 1024**3
_RETRY_STATUSES = (500, 502, 503, 504)


class PlainS3Error(Exception):
    """An S3 error answer; ``response`` has boto3's shape (``{"Error": {"Code": ...}}``)."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code} (HTTP {status}) {message}".strip())
        self.response: dict[str, Any] = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}


def _quote(text: str, safe: str = "") -> str:
    return urllib.parse.quote(text, safe=safe + "-_.~")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign_v4(method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str],
            payload_sha256: str, *, access_key: str, secret_key: str, region: str,
            now: datetime.datetime) -> dict[str, str]:
    """The headers that sign one request (pure: ``now`` is passed in, for tests)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256})
    names = sorted(signed)
    canonical = "\n".join([
        method,
        _quote(path, safe="/"),
        "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items())),
        "".join(f"{n}:{signed[n]}\n" for n in names),
        ";".join(names),
        payload_sha256,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {n: signed[n] for n in names if n != "host"}
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out


class PlainS3Client:
    """Path-style S3 requests with SigV4; one connection per call (simple, thread-safe)."""

    def __init__(self, endpoint_url: str | None, region: str, access_key: str, secret_key: str,
                 session_token: str | None = None, max_attempts: int = 5, timeout: float = 60) -> None:
        url = urllib.parse.urlsplit(endpoint_url or f"https://s3.{region}.amazonaws.com")
        self._https = url.scheme == "https"
        self._host = url.netloc
        self._base = url.path.rstrip("/")
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._token = session_token
        self._attempts = max(1, max_attempts)
        self._timeout = timeout

    # -- one request ------------------------------------------------------------------
    def _request(self, method: str, bucket: str, key: str = "", *, query: dict[str, str] | None = None,
                 body: bytes | io.BufferedReader | None = None, payload_sha256: str | None = None,
                 headers: dict[str, str] | None = None, length: int | None = None,
                 sink: Any = None) -> tuple[int, dict[str, str], bytes]:
        path = f"{self._base}/{bucket}" + (f"/{key}" if key else "")
        query = query or {}
        if payload_sha256 is None:
            payload_sha256 = hashlib.sha256(body if isinstance(body, bytes) else b"").hexdigest()
        extra = dict(headers or {})
        if self._token:
            extra["x-amz-security-token"] = self._token
        if body is not None:
            extra["content-length"] = str(length if length is not None else len(body))  # type: ignore[arg-type]  # a reader comes with its length
        for attempt in range(self._attempts):
            signed = sign_v4(method, self._host, path, query, extra, payload_sha256,
                             access_key=self._access_key, secret_key=self._secret_key,
                             region=self._region, now=datetime.datetime.now(datetime.timezone.utc))
            conn_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = conn_type(self._host, timeout=self._timeout)
            target = _quote(path, safe="/") + (
                "?" + "&".join(f"{_quote(k)}={_quote(v)}" if v else _quote(k) for k, v in sorted(query.items()))
                if query else "")
            try:
                if hasattr(body, "seek"):
                    body.seek(0)  # type: ignore[union-attr]  # a reader, retried from the start
                conn.request(method, target, body=body, headers=signed)
                resp = conn.getresponse()
                if resp.status in _RETRY_STATUSES and attempt + 1 < self._attempts:
                    resp.read()
                    time.sleep(min(2.0, 0.1 * 2**attempt))
                    continue
                if sink is not None and resp.status == 200:
                    shutil.copyfileobj(resp, sink)
                    return resp.status, dict(resp.getheaders()), b""
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
            except (ConnectionError, TimeoutError, http.client.HTTPException):
                if attempt + 1 >= self._attempts:
                    raise
                time.sleep(min(2.0, 0.1 * 2**attempt))
            finally:
                conn.close()
        raise ConnectionError(f"S3 endpoint {self._host} did not answer")  # pragma: no cover

    @staticmethod
    def _check(status: int, data: bytes, ok: tuple[int, ...] = (200,)) -> None:
        if status in ok:
            return
        code, message = str(status), ""
        if data:
            try:
                root = ElementTree.fromstring(data)
                code = root.findtext("Code") or code
                message = root.findtext("Message") or ""
            except ElementTree.ParseError:
                pass
        elif status == 404:
            code = "NoSuchKey"
        raise PlainS3Error(code, status, message)

    # -- the boto3 calls S3Storage makes -----------------------------------------------
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        status, headers, data = self._request("GET", Bucket, Key)
        self._check(status, data)
        return {"Body": io.BytesIO(data), "ETag": headers.get("etag", "")}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        status, headers, data = self._request("HEAD", Bucket, Key)
        self._check(status, data)
        return {"ETag": headers.get("etag", ""), "ContentLength": int(headers.get("content-length", 0))}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str | None = None) -> dict[str, Any]:  # noqa: N803
        headers = {"content-type": ContentType} if ContentType else {}
        status, headers_out, data = self._request("PUT", Bucket, Key, body=Body, headers=headers)
        self._check(status, data)
        return {"ETag": headers_out.get("etag", "")}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        keys = "".join(f"<Object><Key>{_xml(o['Key'])}</Key></Object>" for o in Delete["Objects"])
        body = f'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>{keys}</Delete>'.encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 (S3 requires it)
        status, _, data = self._request("POST", Bucket, query={"delete": ""}, body=body,
                                        headers={"content-md5": md5})
        self._check(status, data)
        return {}

    def upload_file(self, Filename: str, Bucket: str, Key: str, Config: Any = None) -> None:  # noqa: N803
        size = os.path.getsize(Filename)
        if size > _SINGLE_PUT_LIMIT:
            raise PlainS3Error("EntityTooLarge", 400, f"{Filename} is over 5 GiB: multipart uploads need boto3")
        digest = file_sha256(Filename)
        with open(Filename, "rb") as fh:
            status, _, data = self._request("PUT", Bucket, Key, body=fh, payload_sha256=digest, length=size)
        self._check(status, data)

    def download_file(self, Bucket: str, Key: str, Filename: str, Config: Any = None) -> None:  # noqa: N803
        tmp = f"{Filename}.part"
        with open(tmp, "wb") as fh:
            status, _, data = self._request("GET", Bucket, Key, sink=fh)
        if status != 200:
            os.unlink(tmp)
            self._check(status, data)
        os.replace(tmp, Filename)

    def get_paginator(self, name: str) -> Any:
        raise PlainS3Error("NotImplemented", 501, f"{name} needs boto3 (pip install 'hpcflow[s3]')")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
