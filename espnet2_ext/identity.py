"""What produced an experiment folder: recorded once, checked on every rerun.

A training folder (``exp/<tag>``) or a decode folder (``exp/decode_.../<set>``) holds
``identity.json``::

    {"kind": "training", "identity": {...}, "code_version": "<git commit>", "created": "<UTC time>"}

``identity`` is what determines the folder's results: the effective configuration
(config file merged with the extra arguments), the sha256 digests of the model files
read, the input sets. :func:`claim_folder` is called before anything is written:

* no record, no results yet: the record is written (a fresh run);
* the same identity: resume, as before (a changed code version is only logged);
* another identity, or results without a record: stop with an ERROR naming the folder,
  what differs and the way out (another tag, or ``--overwrite true``, which first
  empties the folder, keeping only the logs of the running job).

So a folder never holds results of another config or model, and a second decode with
another checkpoint can never score the first one's estimates.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_json

IDENTITY_FILE = "identity.json"
log = logging.getLogger(__name__)

_digests: Dict[Tuple[str, int, int], str] = {}


def file_digest(path: os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes (memoised per path, size and mtime in this process)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise S5InputError(f"{p}: cannot read it ({e.strerror}); check the path") from e
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _digests[key] = f"sha256:{h.hexdigest()}"
    return _digests[key]


def code_version() -> str:
    """The git commit of this checkout (``+dirty`` with local changes), else the package version."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return commit.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return f"dcase26t4 {version('dcase26t4')}"
    except PackageNotFoundError:
        return "unknown"


def environment() -> Dict[str, str]:
    """Code version and the versions of the packages that shape the results."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    env = {"code_version": code_version(), "python": platform.python_version()}
    for package in ("torch", "torchaudio", "espnet", "numpy"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            env[package] = "absent"
    return env


def jsonable(value: object) -> object:
    """``value`` as plain JSON types (tuples -> lists, paths and other objects -> str)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def differences(old: object, new: object, prefix: str = "") -> List[str]:
    """``key: old -> new`` lines for every leaf that differs (nested dicts are walked)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: List[str] = []
        for k in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{k}" if prefix else str(k)
            if k not in old:
                out.append(f"{name}: (absent) -> {new[k]!r}")
            elif k not in new:
                out.append(f"{name}: {old[k]!r} -> (absent)")
            else:
                out += differences(old[k], new[k], name)
        return out
    return [] if old == new else [f"{prefix or 'value'}: {old!r} -> {new!r}"]


def read_record(folder: Path) -> Optional[dict]:
    """The folder's identity record, or None; an unreadable record is an error."""
    path = folder / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("identity"), dict):
            raise ValueError("not an identity record")
        return record
    except (OSError, ValueError) as e:
        raise S5InputError(f"{path} is damaged ({e}); rerun with --overwrite true to start this folder "
                           f"again, or use another tag") from e


def empty_folder(folder: Path, keep: Callable[[Path], bool]) -> None:
    """Remove everything in ``folder`` except the entries ``keep`` selects."""
    for entry in folder.iterdir():
        if keep(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def keep_logs(entry: Path) -> bool:
    """Logs of the job that is running (its launcher opened them) and hidden launcher files."""
    return entry.name.startswith(".") or entry.name.endswith(".log") or entry.name == "log"


def claim_folder(folder: os.PathLike, kind: str, identity: dict, overwrite: bool, way_out: str,
                 has_results: Callable[[Path], bool], keep: Callable[[Path], bool] = keep_logs,
                 write: bool = True) -> None:
    """Check ``folder`` against ``identity`` before writing into it (see the module docstring).

    ``way_out``: the option that gives another folder (e.g. ``--sep_tag NAME``);
    ``has_results``: whether a record-less folder already holds results; ``write``: False
    only checks (nothing is written or emptied), for a caller that still has inputs to check."""
    folder = Path(folder)
    identity = jsonable(identity)
    record = read_record(folder) if folder.is_dir() else None
    if record is not None and record.get("kind") == kind and record["identity"] == identity:
        if record.get("code_version") != code_version():
            log.info("%s was started with code %s, now %s: resuming", folder, record.get("code_version"),
                     code_version())
        return
    if record is not None or (folder.is_dir() and has_results(folder)):
        if record is None:
            what = "results without an identity record (made by an older version or by hand)"
        elif record.get("kind") != kind:
            what = f"a {record.get('kind')} record, not {kind}"
        else:
            what = "results of another " + kind + ": " + "; ".join(differences(record["identity"], identity))
        if not overwrite:
            raise S5InputError(f"{folder} holds {what}. Use another folder ({way_out}), or --overwrite true "
                               f"to delete its results and start again")
        if not write:
            return
        log.warning("--overwrite true: emptying %s (it held %s)", folder, what)
        empty_folder(folder, keep)
    if not write:
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / IDENTITY_FILE, {
        "kind": kind, "identity": identity, "code_version": code_version(),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})


def model_identity(model_file: Optional[os.PathLike], config: Optional[os.PathLike] = None,
                   extra: Iterable[Tuple[str, object]] = ()) -> Optional[dict]:
    """Digest of a model file (and of its config, when it has one), plus ``extra`` items."""
    if model_file is None:
        return None
    out = {"file": file_digest(model_file)}
    if config is not None and Path(config).is_file():
        out["config"] = file_digest(config)
    out.update(extra)
    return out
