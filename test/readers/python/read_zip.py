"""Reads a ZIP with Python's zipfile: lists entries, reads all data (zipfile checks CRCs),
prints {"count", "bytes", "digest"} as JSON. digest = sha256 over "name\ncrc\nsize\n" lines."""
import hashlib, json, sys, zipfile, zlib

def main(path):
    digest = hashlib.sha256()
    count = 0
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            crc = 0
            size = 0
            with zf.open(info) as f:
                while True:
                    block = f.read(1 << 20)
                    if not block:
                        break
                    crc = zlib.crc32(block, crc)
                    size += len(block)
            if crc != info.CRC or size != info.file_size:
                raise SystemExit(f"mismatch in {info.filename!r}: crc {crc:08x} vs {info.CRC:08x}, size {size} vs {info.file_size}")
            digest.update(f"{info.filename}\n{crc:08x}\n{size}\n".encode("utf-8"))
            count += 1
            total += size
    print(json.dumps({"reader": "python-zipfile", "count": count, "bytes": total, "digest": digest.hexdigest()}))

main(sys.argv[1])
