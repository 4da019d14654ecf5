#!/usr/bin/python3
"""Damages a tar archive for the import tests.

tarmangle.py flip ARCHIVE MEMBER-SUBSTRING   flips a byte inside that member's data
tarmangle.py evil OUT.tar ENTRY              writes an archive with the entry
                                             ENTRY (a ../ path) and an index.json
"""
import io
import sys
import tarfile

if sys.argv[1] == "flip":
    path, part = sys.argv[2], sys.argv[3]
    with tarfile.open(path) as t:
        m = next(m for m in t.getmembers() if part in m.name and m.isfile() and m.size > 100)
        off = m.offset_data + m.size // 2
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xFF]))
elif sys.argv[1] == "evil":
    with tarfile.open(sys.argv[2], "w") as t:
        data = b"owned\n"
        info = tarfile.TarInfo(sys.argv[3])
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("index.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
