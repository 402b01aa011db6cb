"""Checks the known-header layout of a ZIP with Python's zipfile, independently of the encoder:
every entry's local header must equal the one zipfile itself writes for that entry
(ZipInfo.FileHeader, from the central directory's name, time, method, CRC-32 and sizes; the
ZIP64 extra with both sizes when a size needs 64 bits), bit 3 clear, and the next record must
start right after the entry's data (no data descriptor). Prints {"entries": n} as JSON; exits
non-zero naming the first entry that differs."""
import json, sys, zipfile

def main(path):
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
        ends = [i.header_offset for i in infos[1:]] + [zf.start_dir]
        for info, end in zip(infos, ends):
            ours = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            ours.flag_bits = 0x800  # UTF-8 names, no data descriptor
            ours.compress_type = info.compress_type
            ours.CRC = info.CRC
            ours.file_size = info.file_size
            ours.compress_size = info.compress_size
            zip64 = max(info.file_size, info.compress_size) >= 0xFFFFFFFF
            header = ours.FileHeader(zip64=zip64)
            f.seek(info.header_offset)
            actual = f.read(len(header))
            if actual != header:
                raise SystemExit(f"{info.filename!r}: local header {actual.hex()} differs from zipfile's {header.hex()}")
            after = info.header_offset + len(header) + info.compress_size
            if after != end:
                raise SystemExit(f"{info.filename!r}: {end - after} bytes between its data and the next record (a data descriptor?)")
    print(json.dumps({"entries": len(infos)}))

main(sys.argv[1])
