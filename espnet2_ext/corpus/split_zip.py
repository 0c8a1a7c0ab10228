"""Read Info-ZIP split archives (``name.z01 ... name.zNN`` + ``name.zip``) without ``zip -s 0``.

A split archive is one zip stream cut into segments ("disks"); the central directory stores,
for every member, the disk number and the offset *within that disk*. Python's ``zipfile``
reads only single-disk archives, so :func:`open_split_zip` presents the segments as one
virtual file (no copy on disk) whose central directory is rewritten in memory with global
offsets (disk 0). Zip64 records and extra fields are handled.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path
from typing import List, Sequence, Tuple

EOCD = struct.Struct("<4s4H2LH")            # end of central directory record
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
CENTRAL_HEADER = struct.Struct("<4s6H3L5H2L")
SIG_EOCD, SIG_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
SIG_ZIP64_EOCD, SIG_CENTRAL = b"PK\x06\x06", b"PK\x01\x02"
U16, U32 = 0xFFFF, 0xFFFFFFFF


class SplitZipError(ValueError):
    """The segments do not form a valid (split) zip archive."""


def split_parts(zip_path: Path) -> List[Path]:
    """``x.zip`` -> [x.z01, ..., x.zNN, x.zip] (the .zNN that exist, checked for gaps)."""
    zip_path = Path(zip_path)
    found = sorted((p for p in zip_path.parent.glob(zip_path.stem + ".z[0-9][0-9]*")
                    if re.fullmatch(r"\.z\d+", p.suffix)), key=lambda p: int(p.suffix[2:]))
    numbers = [int(p.suffix[2:]) for p in found]
    if numbers != list(range(1, len(found) + 1)):
        raise SplitZipError(f"split archive {zip_path}: segments {numbers} are not 1..N")
    return found + [zip_path]


class ConcatReader(io.RawIOBase):
    """Read-only, seekable view of ``parts`` concatenated, cut at ``cut``, followed by ``tail``."""

    def __init__(self, parts: Sequence[Path], cut: int = -1, tail: bytes = b""):
        super().__init__()
        self.parts = [Path(p) for p in parts]
        sizes = [p.stat().st_size for p in self.parts]
        self.starts = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.cut = self.starts[-1] if cut < 0 else cut
        self.tail = tail
        self.size = self.cut + len(tail)
        self.pos = 0
        self._handles = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(base + offset, 0)
        return self.pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = 0
        while n < len(view) and self.pos < self.size:
            if self.pos >= self.cut:
                k = self.pos - self.cut
                chunk = self.tail[k:k + len(view) - n]
            else:
                i = max(j for j in range(len(self.parts)) if self.starts[j] <= self.pos)
                f = self._handle(i)
                f.seek(self.pos - self.starts[i])
                end = min(self.starts[i + 1], self.cut)
                chunk = f.read(min(len(view) - n, end - self.pos))
                if not chunk:
                    raise SplitZipError(f"{self.parts[i]} is shorter than when it was opened")
            view[n:n + len(chunk)] = chunk
            n += len(chunk)
            self.pos += len(chunk)
        return n

    def _handle(self, i: int):
        if i not in self._handles:
            self._handles[i] = open(self.parts[i], "rb")
        return self._handles[i]

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles.clear()
        super().close()

    def read_at(self, offset: int, n: int) -> bytes:
        self.seek(offset)
        data = self.read(n)
        if len(data) != n:
            raise SplitZipError(f"unexpected end of archive at offset {offset}")
        return data


def _read_end_records(reader: ConcatReader) -> Tuple[int, int, int, int, bytes]:
    """-> (entries, cd_size, global cd_start, cd_disk, comment) from the EOCD (+zip64)."""
    last = reader.parts[-1]
    tail_len = min(last.stat().st_size, EOCD.size + U16)
    tail_start = reader.starts[-1] - tail_len
    tail = reader.read_at(tail_start, tail_len)
    pos = tail.rfind(SIG_EOCD)
    if pos < 0:
        raise SplitZipError(f"{last}: no end-of-central-directory record (not a zip file?)")
    _, _, cd_disk, _, n_total, cd_size, cd_off, comment_len = EOCD.unpack_from(tail, pos)
    comment = tail[pos + EOCD.size:pos + EOCD.size + comment_len]
    loc = tail_start + pos - ZIP64_LOCATOR.size
    if loc >= 0 and reader.read_at(loc, 4) == SIG_LOCATOR:
        _, z64_disk, z64_off, _ = ZIP64_LOCATOR.unpack(reader.read_at(loc, ZIP64_LOCATOR.size))
        rec = reader.read_at(reader.starts[z64_disk] + z64_off, ZIP64_EOCD.size)
        sig, _, _, _, _, cd_disk, _, n_total, cd_size, cd_off = ZIP64_EOCD.unpack(rec)
        if sig != SIG_ZIP64_EOCD:
            raise SplitZipError("zip64 locator points to no zip64 end record")
    if cd_disk >= len(reader.parts):
        raise SplitZipError(f"central directory on disk {cd_disk + 1} but only "
                            f"{len(reader.parts)} segment(s) given")
    return n_total, cd_size, reader.starts[cd_disk] + cd_off, cd_disk, comment


def _parse_extra(extra: bytes) -> List[Tuple[int, bytes]]:
    out, i = [], 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, i)
        out.append((tag, extra[i + 4:i + 4 + size]))
        i += 4 + size
    return out


def _rewrite_entry(cd: bytes, pos: int, starts: Sequence[int]) -> Tuple[bytes, int]:
    """Rewrite one central header to disk 0 / global offset -> (new bytes, next position)."""
    fields = list(CENTRAL_HEADER.unpack_from(cd, pos))
    if fields[0] != SIG_CENTRAL:
        raise SplitZipError(f"bad central directory entry at offset {pos}")
    csize, usize, name_len, extra_len, comment_len, disk, off = (
        fields[8], fields[9], fields[10], fields[11], fields[12], fields[13], fields[16])
    body = CENTRAL_HEADER.size
    name = cd[pos + body:pos + body + name_len]
    extras = _parse_extra(cd[pos + body + name_len:pos + body + name_len + extra_len])
    comment = cd[pos + body + name_len + extra_len:
                 pos + body + name_len + extra_len + comment_len]
    z64 = next((data for tag, data in extras if tag == 1), b"")
    values, k = {}, 0
    for key, present in (("usize", usize == U32), ("csize", csize == U32), ("off", off == U32)):
        if present:
            values[key] = struct.unpack_from("<Q", z64, k)[0]
            k += 8
    if disk == U16:
        disk = struct.unpack_from("<L", z64, k)[0]
    if disk >= len(starts) - 1:
        raise SplitZipError(f"member {name!r} starts on missing disk {disk + 1}")
    offset = starts[disk] + values.get("off", off)
    new_z64 = b""
    if usize == U32:
        new_z64 += struct.pack("<Q", values["usize"])
    if csize == U32:
        new_z64 += struct.pack("<Q", values["csize"])
    if offset >= U32:
        new_z64 += struct.pack("<Q", offset)
    fields[13], fields[16] = 0, min(offset, U32)
    new_extra = b"".join(struct.pack("<2H", t, len(d)) + d for t, d in extras if t != 1)
    if new_z64:
        new_extra = struct.pack("<2H", 1, len(new_z64)) + new_z64 + new_extra
    fields[11] = len(new_extra)
    entry = CENTRAL_HEADER.pack(*fields) + name + new_extra + comment
    return entry, pos + body + name_len + extra_len + comment_len


def _end_records(n: int, cd_start: int, cd_size: int, comment: bytes) -> bytes:
    """Single-disk EOCD (with zip64 records when a value does not fit)."""
    if n < U16 and cd_start < U32 and cd_size < U32:
        return EOCD.pack(SIG_EOCD, 0, 0, n, n, cd_size, cd_start, len(comment)) + comment
    z64_at = cd_start + cd_size
    return (ZIP64_EOCD.pack(SIG_ZIP64_EOCD, ZIP64_EOCD.size - 12, 45, 45, 0, 0, n, n,
                            cd_size, cd_start)
            + ZIP64_LOCATOR.pack(SIG_LOCATOR, 0, z64_at, 1)
            + EOCD.pack(SIG_EOCD, 0, 0, min(n, U16), min(n, U16), min(cd_size, U32),
                        min(cd_start, U32), len(comment)) + comment)


def open_split_zip(parts: Sequence[Path]) -> zipfile.ZipFile:
    """Open segments ``[x.z01, ..., x.zip]`` (or a single ``x.zip``) as one ZipFile."""
    reader = ConcatReader(parts)
    try:
        n, cd_size, cd_start, _, comment = _read_end_records(reader)
        cd = reader.read_at(cd_start, cd_size)
        entries, pos = [], 0
        for _ in range(n):
            entry, pos = _rewrite_entry(cd, pos, reader.starts)
            entries.append(entry)
        new_cd = b"".join(entries)
        tail = new_cd + _end_records(n, cd_start, len(new_cd), comment)
    except (struct.error, SplitZipError) as e:
        reader.close()
        raise SplitZipError(f"cannot read split archive {parts[-1]}: {e}") from e
    reader.close()
    view = io.BufferedReader(ConcatReader(parts, cut=cd_start, tail=tail), buffer_size=1 << 20)
    try:
        return zipfile.ZipFile(view)
    except zipfile.BadZipFile as e:
        view.close()
        raise SplitZipError(f"cannot read split archive {parts[-1]}: {e}") from e


def cut_into_segments(zip_bytes: bytes, segment_size: int) -> List[bytes]:
    """Turn a single-disk zip into Info-ZIP split segments [z01, ..., zip] (the inverse of
    :func:`open_split_zip`; used to make test fixtures and small mirrors).

    The split marker ``PK\\x07\\x08`` and the member data are cut every ``segment_size``
    bytes; the central directory (with per-disk offsets) and the end record go to the last.
    """
    n, cd_size, cd_off = struct.unpack_from("<HLL", zip_bytes, zip_bytes.rfind(SIG_EOCD) + 10)
    data = b"PK\x07\x08" + zip_bytes[:cd_off]
    starts = list(range(0, len(data), segment_size))
    segments = [data[s:s + segment_size] for s in starts]
    cd = bytearray(zip_bytes[cd_off:cd_off + cd_size])
    pos = 0
    for _ in range(n):
        name_len, extra_len, comment_len = struct.unpack_from("<3H", cd, pos + 28)
        local = struct.unpack_from("<L", cd, pos + 42)[0] + 4
        disk = local // segment_size
        struct.pack_into("<H", cd, pos + 34, disk)
        struct.pack_into("<L", cd, pos + 42, local - starts[disk])
        pos += CENTRAL_HEADER.size + name_len + extra_len + comment_len
    last = len(segments) - 1
    end = EOCD.pack(SIG_EOCD, last, last, n, n, cd_size, len(segments[last]), 0)
    segments[last] += bytes(cd) + end
    return segments
