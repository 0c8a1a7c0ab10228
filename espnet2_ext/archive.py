"""Archives from others (espnet2 packed systems: .zip, .tgz, .tar), unpacked by our own code.

espnet2's ``unpack`` follows ``../``, absolute and link members and creates folders before
checking anything. Here :func:`open_checked` checks every member's header first:

* its name is relative, has no ``..``, ``.`` or empty component, no backslash and no control
  character (a newline in a printed path would inject a line), at most 255 bytes a component
  and :data:`MAX_NAME_BYTES` in all;
* it is a regular file or a folder: no symlink, hardlink, device, FIFO or sparse member (in a
  zip: the Unix file type in the external attributes), not encrypted;
* no name occurs twice, and no file is also used as a folder by another member;
* at most :data:`MAX_MEMBERS` members and ``max_bytes`` bytes unpacked in all
  (:data:`DEFAULT_MAX_BYTES`, 4 GB, unless raised).

:meth:`CheckedArchive.extract` first reads every member's data (checked against the size its
header announces, zip CRCs too) and only then writes: into
a temporary folder beside the target, renamed into place as a unit (:func:`fileio.atomic_dir`).
So a refused or damaged archive leaves no file and no folder anywhere.

:func:`espnet2_members` reads an espnet2 ``meta.yaml`` (``files`` and ``yaml_files``) with
``yaml.safe_load`` and checks that each path it names is a file member of the archive;
:func:`espnet2_yaml_rewrites` rewrites the packed configs to the unpacked paths, as espnet2 does.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_dir
from espnet2_ext.names import check_name, control_characters

PathLike = Union[str, os.PathLike]
ARCHIVE_SUFFIXES = {".zip": "zip", ".tgz": "r:gz", ".tar": "r:"}   # what s5_pack pack writes
DEFAULT_MAX_BYTES = 4 * 10 ** 9
MAX_MEMBERS = 100_000
MAX_NAME_BYTES = 1024
MAX_YAML_BYTES = 16 << 20       # a packed config or meta.yaml larger than this is not one
_CHUNK = 1 << 20
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
REFUSED_FIX = "do not unpack it; use an archive made by stage 9 (s5_pack pack)"


@dataclass(frozen=True)
class Member:
    """One checked member: its normalised name, unpacked size, kind and the zip/tar header."""

    name: str
    size: int
    is_dir: bool
    header: Any


def check_member_name(raw: str) -> str:
    """``raw`` without a folder's trailing ``/``; ValueError saying what is wrong with it."""
    if control_characters(raw):
        raise ValueError(f"contains the control character(s) {', '.join(control_characters(raw))}")
    if "\\" in raw:
        raise ValueError("contains a backslash")
    if raw.startswith("/"):
        raise ValueError("is an absolute path")
    name = raw[:-1] if raw.endswith("/") else raw
    parts = name.split("/")
    if ".." in parts:
        raise ValueError("climbs out of the folder with '..'")
    if any(part in ("", ".") for part in parts):
        raise ValueError("has an empty or '.' path component")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES or \
            any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in parts):
        raise ValueError(f"is longer than {MAX_NAME_BYTES} bytes or has a component longer than 255 bytes")
    return name


def _zip_kind(info: zipfile.ZipInfo) -> str:
    """'file' or 'dir', else ValueError naming what the member is."""
    if info.flag_bits & 0x1:
        raise ValueError("is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise ValueError(f"uses the unsupported compression method {info.compress_type}")
    mode = stat.S_IFMT(info.external_attr >> 16)    # Unix file type; 0 when made elsewhere
    if mode == stat.S_IFLNK:
        raise ValueError("is a symbolic link")
    if mode not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ValueError(f"is a special file (Unix file type {oct(mode)}), not a file or a folder")
    if mode and (mode == stat.S_IFDIR) != info.is_dir():
        raise ValueError("has a name and a file type that disagree (folder or file)")
    return "dir" if info.is_dir() else "file"


def _tar_kind(info: tarfile.TarInfo) -> str:
    """'file' or 'dir', else ValueError naming what the member is."""
    if info.issym():
        raise ValueError(f"is a symbolic link (to {info.linkname!r})")
    if info.islnk():
        raise ValueError(f"is a hard link (to {info.linkname!r})")
    if info.isdir():
        return "dir"
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or info.sparse is not None:
        what = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
                tarfile.FIFOTYPE: "a FIFO"}.get(info.type, f"of tar type {info.type!r}")
        raise ValueError(f"is {what}, not a file or a folder")
    return "file"


class CheckedArchive:
    """An open archive whose members all passed the checks (see the module docstring)."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.members: Dict[str, Member] = {}
        self._handle: Union[zipfile.ZipFile, tarfile.TarFile, None] = None

    # ------------------------------------------------------------------ errors
    def refuse(self, name: str, problem: str, fix: str = REFUSED_FIX) -> S5InputError:
        """The error for a member ``name`` (shown with escapes) of this archive."""
        return S5InputError(f"{self.path}: member {ascii(name)} {problem}; {fix}")

    def unreadable(self, error: BaseException) -> S5InputError:
        """The error for an archive that cannot be read (not zip/tar, cut short, damaged)."""
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        return S5InputError(f"{self.path} is not a packed S5 system or is damaged ({reason}); "
                            f"download it again or make one with stage 9 (s5_pack pack)")

    # ------------------------------------------------------------------ listing
    def _open(self) -> None:
        kind = ARCHIVE_SUFFIXES.get(self.path.suffix)
        if kind is None:
            raise S5InputError(f"--archive {self.path}: not an archive stage 9 writes; use one of "
                               f"{', '.join(ARCHIVE_SUFFIXES)}")
        self._handle = zipfile.ZipFile(self.path) if kind == "zip" else tarfile.open(self.path, mode=kind)
        headers = self._handle.infolist() if kind == "zip" else self._handle   # a tar is read lazily
        total = 0
        for header in headers:
            raw = header.filename if kind == "zip" else header.name
            try:
                name = check_member_name(raw)
                is_dir = (_zip_kind if kind == "zip" else _tar_kind)(header) == "dir"
            except ValueError as e:
                raise self.refuse(raw, str(e)) from None
            if name in self.members:
                raise self.refuse(raw, "occurs twice in the archive")
            size = 0 if is_dir else header.file_size if kind == "zip" else header.size
            total += size
            if total > self.max_bytes:
                raise self.refuse(raw, f"takes the unpacked size over the limit of {self.max_bytes / 1e9:g} GB",
                                  "if the system is really that large, raise --max_unpacked_gb; "
                                  "otherwise do not unpack it (an archive bomb)")
            if len(self.members) >= MAX_MEMBERS:
                raise self.refuse(raw, f"is one of more than {MAX_MEMBERS} members", REFUSED_FIX)
            self.members[name] = Member(name, size, is_dir, header)
        folders = {str(parent) for name in self.members for parent in Path(name).parents} - {"."}
        clash = sorted(name for name, m in self.members.items() if not m.is_dir and name in folders)
        if clash:
            raise self.refuse(clash[0], "is a file and also a folder of other members")

    def files(self) -> List[str]:
        """The names of the file (not folder) members, in archive order."""
        return [name for name, m in self.members.items() if not m.is_dir]

    # ------------------------------------------------------------------ reading
    def _stream(self, member: Member) -> Iterator[bytes]:
        """The member's data in chunks, stopping with an error if it exceeds its announced size."""
        if isinstance(self._handle, zipfile.ZipFile):
            opened: BinaryIO = self._handle.open(member.header)
        else:
            opened = self._handle.extractfile(member.header)
        read = 0
        with opened as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                read += len(chunk)
                if read > member.size:
                    raise self.refuse(member.name, f"holds more data than the {member.size} bytes its header "
                                                   f"announces (an archive bomb)")
                yield chunk
        if read != member.size:
            raise self.refuse(member.name, f"holds {read} bytes, not the {member.size} its header announces")

    def _guarded(self, iterable: Iterable[bytes]) -> Iterator[bytes]:
        """Iterate, turning a read error of the archive into one S5InputError."""
        try:
            yield from iterable
        except S5InputError:
            raise
        except Exception as e:    # BadZipFile (CRC), zlib.error, truncated tar, ...
            raise self.unreadable(e) from e

    def read(self, name: str, what: str, limit: int = MAX_YAML_BYTES) -> bytes:
        """The whole data of the file member ``name`` (at most ``limit`` bytes)."""
        member = self.members.get(name)
        if member is None or member.is_dir:
            raise S5InputError(f"{self.path} has no file {ascii(name)} ({what}): not a packed S5 system; "
                               f"make one with stage 9 (s5_pack pack)")
        if member.size > limit:
            raise self.refuse(name, f"is {member.size} bytes, more than a {what} can be ({limit} bytes)")
        return b"".join(self._guarded(self._stream(member)))

    def read_yaml(self, name: str, what: str) -> Any:
        """Parse the member ``name`` with ``yaml.safe_load`` (no python tags, no code)."""
        data = self.read(name, what)
        try:
            return yaml.safe_load(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise self.refuse(name, f"({what}) is not UTF-8 text ({e.reason})") from e
        except yaml.YAMLError as e:
            raise self.refuse(name, f"({what}) is not plain YAML: {' '.join(str(e).split())}") from e
        except RecursionError as e:
            raise self.refuse(name, f"({what}) is nested too deeply") from e

    # ------------------------------------------------------------------ writing
    def extract(self, outdir: PathLike, replace: Mapping[str, bytes] = {}) -> None:
        """Check every member's data, then write all members into ``outdir`` as a unit.

        ``replace``: new content for some file members (rewritten configs). ``outdir`` is
        replaced whole (see :func:`check_outdir`)."""
        outdir = Path(outdir)
        for member in self.members.values():          # nothing is written before all data was read
            if not member.is_dir and member.name not in replace:
                for _ in self._guarded(self._stream(member)):
                    pass
        try:
            with atomic_dir(outdir, keep=()) as tmp:
                for member in self.members.values():
                    self._write(member, tmp / member.name, replace.get(member.name))
        except OSError as e:
            raise S5InputError(f"cannot unpack {self.path} into {outdir}: {e.strerror or e}; free some space "
                               f"or choose another --outdir (nothing was left behind)") from e

    def _write(self, member: Member, target: Path, content: Optional[bytes]) -> None:
        """Write one member at ``target`` (a new path: never through an existing file or link)."""
        if member.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as f:
            if content is not None:
                f.write(content)
            else:
                for chunk in self._guarded(self._stream(member)):
                    f.write(chunk)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


@contextlib.contextmanager
def open_checked(archive: PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> Iterator[CheckedArchive]:
    """Open ``archive`` and check every member's header; one S5InputError for any problem."""
    checked = CheckedArchive(Path(archive), max_bytes)
    try:
        if not checked.path.is_file():
            raise S5InputError(f"--archive {checked.path}: file not found")
        try:
            checked._open()
        except S5InputError:
            raise
        except Exception as e:    # not a zip/tar, cut short, damaged headers
            raise checked.unreadable(e) from e
        yield checked
    finally:
        with contextlib.suppress(Exception):
            checked.close()


def check_outdir(outdir: PathLike, option: str = "--outdir") -> Path:
    """``outdir`` if it is new, empty or a previous unpacked copy (replaced whole on unpacking)."""
    outdir = Path(outdir)
    check_name(str(outdir), option, "it would break the printed tagger_model=... lines; choose a plain name")
    if outdir.exists() and not outdir.is_dir():
        raise S5InputError(f"{option} {outdir} is a file, but a folder is needed; choose another path")
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / "meta.yaml").is_file():
        raise S5InputError(f"{option} {outdir} holds files but is not an unpacked system (no meta.yaml); "
                           f"unpacking replaces the folder whole, so choose a new or empty folder")
    return outdir


# ---------------------------------------------------------------------- espnet2's packed format
def espnet2_members(arc: CheckedArchive) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``meta.yaml``'s ``yaml_files`` and ``files`` (key -> member name); each names a file member."""
    meta = arc.read_yaml("meta.yaml", "espnet2 meta.yaml")
    if not isinstance(meta, dict):
        raise arc.refuse("meta.yaml", f"is a {type(meta).__name__}, not a mapping with 'files' and 'yaml_files'")
    sections = []
    for section in ("yaml_files", "files"):
        entries = meta.get(section)
        if not isinstance(entries, dict):
            raise arc.refuse("meta.yaml", f"has no mapping '{section}' (it has {type(entries).__name__})")
        names = {}
        for key, value in entries.items():
            where = f"{section}.{key} = {ascii(value)}"
            if not isinstance(key, str) or not isinstance(value, str):
                raise arc.refuse("meta.yaml", f"names a file with something else than a string: {where}")
            try:
                name = check_member_name(value)
            except ValueError as e:
                raise arc.refuse("meta.yaml", f"names a file outside the unpack folder: {where} {e}") from None
            if name not in arc.members or arc.members[name].is_dir:
                raise arc.refuse("meta.yaml", f"names a file the archive does not hold: {where}")
            names[key] = name
        sections.append(names)
    return sections[0], sections[1]


def _rewrite_paths(value: Any, targets: Mapping[str, str], seen: Dict[int, Any]) -> Any:
    """``value`` with every string equal to a member name replaced by its unpacked path
    (shared YAML nodes, ``&anchor`` / ``*alias``, are rewritten once)."""
    if id(value) in seen:
        return seen[id(value)]
    if isinstance(value, dict):
        out: Any = {}
        seen[id(value)] = out
        out.update({k: _rewrite_paths(v, targets, seen) for k, v in value.items()})
    elif isinstance(value, (list, tuple)):
        out = []
        seen[id(value)] = out
        out.extend(_rewrite_paths(v, targets, seen) for v in value)
    elif isinstance(value, str) and os.path.normpath(value) in targets:
        out = targets[os.path.normpath(value)]
    else:
        out = value
    return out


def espnet2_yaml_rewrites(arc: CheckedArchive, yaml_files: Mapping[str, str], outdir: PathLike
                          ) -> Dict[str, bytes]:
    """The packed configs ``yaml_files`` with paths to members rewritten to ``outdir/<member>``
    (what espnet2's unpack writes), parsed with ``yaml.safe_load``."""
    targets = {name: str(Path(outdir) / name) for name in arc.files()}
    rewrites = {}
    for key, name in yaml_files.items():
        config = arc.read_yaml(name, f"packed config {key}")
        try:
            rewrites[name] = yaml.safe_dump(_rewrite_paths(config, targets, {})).encode("utf-8")
        except RecursionError as e:
            raise arc.refuse(name, "is nested too deeply") from e
    return rewrites


def inside(outdir: PathLike, path: PathLike) -> bool:
    """Whether ``path`` resolves (links followed) to ``outdir`` or below it."""
    return Path(path).resolve().is_relative_to(Path(outdir).resolve())
