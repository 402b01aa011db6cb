"""The Python baseline, run as its own process by the harness:

    .tools/bench-venv/bin/python bench/e2e/zipstream_boto3.py '<BaselineConfig JSON>'

zipstream-ng's ZipStream fed each source object's GetObject body (in listing order), read as a
file object by boto3's upload_fileobj, with the same part size and concurrency as zipflow.
Endpoint and credentials come from the environment (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints one JSON line: entries, inputBytes, seconds,
vmHwmMiB, wire.
"""

import io
import json
import os
import socket
import sys
import time
import zipfile

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from zipstream import ZipStream


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


class WireCount:
    """Bytes through this process's sockets (headers included), counted where they are sent
    and received. /proc/self/io would miss them: Python's sockets use send(2) and recv(2)."""

    read = 0
    sent = 0

    @classmethod
    def install(cls):
        recv, recv_into = socket.socket.recv, socket.socket.recv_into
        send, sendall = socket.socket.send, socket.socket.sendall

        def counted_recv(sock, *args):
            data = recv(sock, *args)
            cls.read += len(data)
            return data

        def counted_recv_into(sock, *args):
            n = recv_into(sock, *args)
            cls.read += n
            return n

        def counted_send(sock, data, *args):
            n = send(sock, data, *args)
            cls.sent += n
            return n

        def counted_sendall(sock, data, *args):
            sendall(sock, data, *args)
            cls.sent += memoryview(data).nbytes

        socket.socket.recv = counted_recv
        socket.socket.recv_into = counted_recv_into
        socket.socket.send = counted_send
        socket.socket.sendall = counted_sendall


def vm_hwm_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


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
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=config["sourceBucket"], Prefix=config["prefix"]
    ):
        objects.extend(page.get("Contents", []))

    def body(key):
        out = s3.get_object(Bucket=config["sourceBucket"], Key=key)
        yield from out["Body"].iter_chunks(chunk_size=1024 * 1024)

    store = config["compression"] == "store"
    zs = ZipStream(
        compress_type=zipfile.ZIP_STORED if store else zipfile.ZIP_DEFLATED,
        compress_level=None if store else config["level"],
    )
    prefix_length = len(config["prefix"])
    for o in objects:
        zs.add(body(o["Key"]), o["Key"][prefix_length:])
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
    print(
        json.dumps(
            {
                "entries": len(objects),
                "inputBytes": sum(o["Size"] for o in objects),
                "seconds": time.perf_counter() - started,
                "vmHwmMiB": vm_hwm_mib(),
                "wire": {"read": WireCount.read, "sent": WireCount.sent},
            }
        )
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
