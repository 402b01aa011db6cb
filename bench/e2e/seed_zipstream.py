"""The seed recipe, run as its own process by the harness:

    .tools/bench-venv-seed/bin/python bench/e2e/seed_zipstream.py '<BaselineConfig JSON>'

The recipe this project grew from, as published ("Using zipstream to stream new zip files to
object storage with boto3", 2025-07-24): zipstream 1.1.4's ZipFile with allowZip64=True,
wrapped in its FileLikeObject and passed to boto3 1.38.19's upload_fileobj, with boto3's
defaults throughout (client, checksums, TransferConfig: 8 MiB parts, 10 threads). The recipe
adds entries with writestr; here each source object is added with zipstream's write_iter, as a
generator that sends its GetObject when the entry is reached and yields 1 MiB chunks (as the
zipstream-ng baseline does). Endpoint and credentials come from the environment
(AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints one JSON
line: entries, inputBytes, seconds, cpuSeconds, vmHwmMiB, wire. `partSize` and `concurrency`
of the config are not used: the recipe sets neither.
"""

import json
import sys
import time
import zipfile

import boto3
import zipstream

from pybaseline import WireCount, cpu_seconds, list_source, object_chunks, report


# The recipe's wrapper, verbatim.
class FileLikeObject:
    """
    Wrap an iterable of ``bytes`` and turn it into a file-like object
    that can be passed to ``S3Client.upload_fileobj``.
    """

    def __init__(self, iterable):
        self.iterator = iter(iterable)
        self.buffer = b""

    def read(self, size=-1) -> bytes:
        """
        Read up to ``size`` bytes from the object and return them.

        If ``size`` is unspecified or -1, all bytes until EOF are returned.
        Fewer than ``size`` bytes may be returned if there are less than
        ``size`` bytes left in the iterator.
        """
        size: int = size or -1

        # Fill the buffer with enough bytes to fulfil the request.
        while size < 0 or len(self.buffer) < size:
            try:
                chunk = next(self.iterator)
                self.buffer += chunk
            except StopIteration:
                break

        if size < 0:
            result, self.buffer = self.buffer, b""
        else:
            result, self.buffer = self.buffer[:size], self.buffer[size:]

        return result


def main(config):
    s3_client = boto3.client("s3")
    WireCount.install()
    started = time.perf_counter()
    cpu = cpu_seconds()
    objects = list_source(s3_client, config)

    store = config["compression"] == "store"
    zf = zipstream.ZipFile(
        mode="w",
        compression=zipfile.ZIP_STORED if store else zipfile.ZIP_DEFLATED,
        allowZip64=True,
    )
    prefix_length = len(config["prefix"])
    for o in objects:
        chunks = object_chunks(s3_client, config["sourceBucket"], o["Key"])
        zf.write_iter(o["Key"][prefix_length:], chunks)
    s3_client.upload_fileobj(
        Fileobj=FileLikeObject(zf),
        Bucket=config["destinationBucket"],
        Key=config["destinationKey"],
    )
    print(json.dumps(report(objects, started, cpu)))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
