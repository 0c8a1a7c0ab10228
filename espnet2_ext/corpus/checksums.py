"""Checksums of downloaded files: one notation, ``<algorithm>:<hex digest>``.

Zenodo's API gives ``md5:<hex>`` per file; GitHub shows ``sha256:<hex>`` next to each
release asset (and in the API's ``digest`` field). The recipe's table
(``egs2/dcase26t4/s5/local/checksums.txt``) uses the same notation, one
``<checksum>  <name>`` per line, where a bare 32-digit value is read as an md5 (older
tables) and ``-`` means not known.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, Optional

from espnet2_ext.errors import S5InputError

CHUNK = 1 << 20

#: checksum algorithms we verify, and the length of their hex digests
HEX_DIGEST_LENGTH = {"md5": 32, "sha256": 64}


def parse_checksum(text: str, where: str = "checksum") -> Optional[str]:
    """The canonical ``<algorithm>:<hex digest>`` of a checksum written as ``md5:<hex>``,
    ``sha256:<hex>`` (Zenodo's and GitHub's own notation) or a bare md5 (32 hex digits);
    ``-`` means not known (None). ``where`` names the source in the error."""
    text = text.strip().lower()
    if text == "-":
        return None
    algorithm, _, digest = text.rpartition(":")
    algorithm = algorithm or ("md5" if len(digest) == HEX_DIGEST_LENGTH["md5"] else "")
    if len(digest) != HEX_DIGEST_LENGTH.get(algorithm, -1) or any(c not in "0123456789abcdef" for c in digest):
        raise S5InputError(f"{where}: {text!r} is not a checksum; write md5:<32 hex digits>, "
                           f"sha256:<64 hex digits> or - (not known)")
    return f"{algorithm}:{digest}"


def read_checksum_table(path: Optional[Path]) -> Dict[str, str]:
    """``<checksum>  <name>`` lines (``#`` comments; checksum as :func:`parse_checksum` reads
    it, ``-`` = unknown) -> {name: ``<algorithm>:<hex digest>``}."""
    table: Dict[str, str] = {}
    if path is None or not Path(path).is_file():
        return table
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2:
            checksum = parse_checksum(parts[0], f"checksum table {path}, line {number}")
            if checksum is not None:
                table[parts[1]] = checksum
    return table


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of ``path`` with ``algorithm`` (md5, sha256)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()
