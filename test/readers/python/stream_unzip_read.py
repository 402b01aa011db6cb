"""Reads a ZIP from stdin with stream-unzip (PyPI), which sees only the bytes as they come:
reads every entry's data (stream-unzip checks CRC-32 and sizes itself), prints
{"count", "bytes", "digest"} as JSON. digest = sha256 over "name\ncrc\nsize\n" lines."""
import hashlib, json, sys, zlib
from stream_unzip import stream_unzip

def main():
    digest = hashlib.sha256()
    count = 0
    total = 0
    chunks = iter(lambda: sys.stdin.buffer.read(1 << 16), b"")
    for name, _size, data in stream_unzip(chunks):
        crc = 0
        size = 0
        for block in data:
            crc = zlib.crc32(block, crc)
            size += len(block)
        digest.update(f"{name.decode('utf-8')}\n{crc:08x}\n{size}\n".encode("utf-8"))
        count += 1
        total += size
    print(json.dumps({"reader": "stream-unzip", "count": count, "bytes": total, "digest": digest.hexdigest()}))

main()
