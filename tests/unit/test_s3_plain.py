"""The standard-library S3 client pods use: SigV4 against AWS's published example, and the
calls the runtime makes against the moto server, with boto3 reading what it wrote."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from hpcflow.storage.s3_plain import PlainS3Client, PlainS3Error, sign_v4
from tests.s3_server import S3Server, s3_server_fixture


def test_signature_matches_the_aws_documentation_example():
    # "Example: GET Object" of the S3 SigV4 header-auth documentation.
    headers = sign_v4("GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"Range": "bytes=0-9"},
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                      region="us-east-1", now=datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc))
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


@pytest.fixture(scope="module")
def server():
    yield from s3_server_fixture()


@pytest.mark.s3
def test_the_runtime_calls_round_trip_with_boto3(server: S3Server, tmp_path: Path):
    bucket = server.new_bucket()
    c = PlainS3Client(server.endpoint_url, server.region, server.access_key, server.secret_key)
    key = "a dir/ünï code+$(x).txt"
    c.put_object(Bucket=bucket, Key=key, Body=b"hello", ContentType="text/plain")
    assert server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
    assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
    assert c.head_object(Bucket=bucket, Key=key)["ContentLength"] == 5
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    c.upload_file(str(src), bucket, "big.bin")
    c.download_file(bucket, "big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "big.bin"}, {"Key": key}]})
    with pytest.raises(PlainS3Error) as err:
        c.get_object(Bucket=bucket, Key=key)
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
