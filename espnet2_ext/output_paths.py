"""Output destinations checked before any work: one ERROR naming the path and the fix.

Every CLI calls :func:`check_output_dir` / :func:`check_output_file` on the paths it
will write, right after parsing its options, so that a destination that cannot be
written stops the command before hours of compute, not after:

* the path (or one of its parents) exists but is of the wrong kind (a file where a
  folder is wanted, or the reverse);
* a path component is longer than the file system allows, or the whole path is;
* the nearest existing folder is not writable (read-only mount, permissions).
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Union

from espnet2_ext.errors import S5InputError

PathLike = Union[str, os.PathLike]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:                 # e.g. a name too long: checked separately
        return False


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if _exists(candidate):
            return candidate
    return Path(".")


def _limits(folder: Path):
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 255, 4096


def _check(path: Path, option: str, want_dir: bool) -> None:
    kind = "folder" if want_dir else "file"
    existing = _nearest_existing(path)
    if existing == path:
        if want_dir and not path.is_dir():
            raise S5InputError(f"{option} {path}: a file of that name exists, but a folder is needed; "
                               f"remove it or choose another path")
        if not want_dir and path.is_dir():
            raise S5InputError(f"{option} {path} is a folder, but a file is written there; choose a file name")
    elif not existing.is_dir():
        raise S5InputError(f"{option} {path}: {existing} is a file, so the {kind} cannot be created under it; "
                           f"choose another path")
    name_max, path_max = _limits(existing if existing.is_dir() else existing.parent)
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > name_max), None)
    if too_long is not None:
        raise S5InputError(f"{option} {path}: the name {too_long[:40]!r}... is longer than the {name_max} "
                           f"bytes the file system allows; use a shorter name")
    if len(os.fsencode(os.path.abspath(path))) >= path_max:
        raise S5InputError(f"{option} {path}: the path is longer than the {path_max} bytes the file system "
                           f"allows; use a shorter path")
    folder = existing if existing.is_dir() else existing.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise S5InputError(f"{option} {path}: {folder} is not writable; choose a writable place or fix its "
                           f"permissions")
    try:                            # read-only mounts refuse even root
        probe = folder / f".write_probe.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        reason = "a read-only file system" if e.errno == errno.EROFS else e.strerror
        raise S5InputError(f"{option} {path}: cannot write in {folder} ({reason}); choose another place") from e


def check_output_dir(path: PathLike, option: str) -> Path:
    """Stop unless ``path`` is (or can be created as) a writable folder; return it as a Path."""
    path = Path(path)
    _check(path, option, want_dir=True)
    return path


def check_output_file(path: PathLike, option: str) -> Path:
    """Stop unless a file can be written at ``path``; return it as a Path."""
    path = Path(path)
    _check(path, option, want_dir=False)
    return path
