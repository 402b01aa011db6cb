"""The Python baseline, run as its own process by the harness:

    .tools/bench-venv/bin/python bench/e2e/zipstream_boto3.py '<BaselineConfig JSON>'

zipstream-ng's ZipStream fed each source object's GetObject body (in listing order), read as a
file object by boto3's upload_fileobj, with the same part size and concurrency as zipflow.
Endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints one JSON line: entries, inputBytes, seconds,
cpuSeconds, vmHwmMiB, wire.
"""

import io
import json
import os
import sys
import time
import zipfile

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from zipstream import ZipStream

from pybaseline import WireCount, cpu_seconds, list_source, object_chunks, report


class IterReader(io.RawIOBase):
    """A read-only file object over an iterator of bytes."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def main(config):
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(
            s3={"addressing_style": "path"},
            # As zipflow's client: checksums only where an operation requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=config["concurrency"] + 4,
        ),
    )
    WireCount.install()
    started = time.perf_counter()
    cpu = cpu_seconds()
    objects = list_source(s3, config)

    store = config["compression"] == "store"
    zs = ZipStream(
        compress_type=zipfile.ZIP_STORED if store else zipfile.ZIP_DEFLATED,
        compress_level=None if store else config["level"],
    )
    prefix_length = len(config["prefix"])
    for o in objects:
        zs.add(object_chunks(s3, config["sourceBucket"], o["Key"]), o["Key"][prefix_length:])
    reader = io.BufferedReader(IterReader(zs), buffer_size=1024 * 1024)
    s3.upload_fileobj(
        reader,
        config["destinationBucket"],
        config["destinationKey"],
        Config=TransferConfig(
            multipart_threshold=config["partSize"],
            multipart_chunksize=config["partSize"],
            max_concurrency=config["concurrency"],
        ),
    )
    print(json.dumps(report(objects, started, cpu)))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
