"""Stage 1: download, verify, unpack and link the official corpus and checkpoints.

What comes from where (base URLs overridable for tests and mirrors, see :class:`Sources`)::

    dev set   Zenodo record 19328046: DCASE2026Task4Dataset.z01..z10 + .zip
    eval set  Zenodo record 20425860: DCASE2026Task4EvaluationDataset.z01..z04 + .zip
    M2D       github.com/nttcslab/m2d/releases/download/v0.3.0/<M2D_FOLDER>.zip
    baseline  github.com/nttcslab/dcase2026_task4_baseline/releases/download/v1.0.0/
              baseline_checkpoint.zip (optional)

Checksums (``<algorithm>:<hex digest>``, md5 or sha256, see :mod:`espnet2_ext.corpus.checksums`): the md5 of
every Zenodo file is read from ``<zenodo>/api/records/<id>``; when the API cannot be reached a
table shipped with the recipe (``local/checksums.txt``) is used. GitHub publishes no md5 for
release assets but a sha256 digest per asset: the table's value is used, else the one its API
gives (``<api>/repos/<repo>/releases/tags/<tag>``). Files with no known checksum are accepted on
size (when known) and the zip CRCs checked while unpacking, with a warning that prints their
sha256 to compare and record. Downloads go to ``<file>.part`` and resume with HTTP Range requests;
a file appears under its final name only once complete and verified. A bad checksum
removes the ``.part`` file.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from espnet2_ext.corpus.checksums import file_digest, parse_checksum, read_checksum_table  # noqa: F401
from espnet2_ext.corpus.layout import DEV_SET_IN_ARCHIVE, EVAL_SET_IN_ARCHIVE
from espnet2_ext.corpus.split_zip import open_split_zip
from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS

log = logging.getLogger(__name__)

CHUNK = 1 << 20
BASELINE_CKPTS = ("m2dat_1c.ckpt", "m2dat_4c.ckpt", "resunetk.ckpt")


@dataclass(frozen=True)
class Sources:
    """Base URLs; defaults from ``DCASE26T4_ZENODO_URL`` / ``DCASE26T4_GITHUB_URL`` /
    ``DCASE26T4_GITHUB_API_URL``."""

    zenodo: str = field(default_factory=lambda: os.environ.get(
        "DCASE26T4_ZENODO_URL", "https://zenodo.org"))
    github: str = field(default_factory=lambda: os.environ.get(
        "DCASE26T4_GITHUB_URL", "https://github.com"))
    github_api: Optional[str] = field(default_factory=lambda: os.environ.get("DCASE26T4_GITHUB_API_URL"))

    def __post_init__(self) -> None:
        """GitHub's API: api.github.com for github.com, ``<mirror>/api/v3`` for a mirror (GitHub
        Enterprise's place), unless given."""
        if self.github_api is None:
            api = ("https://api.github.com" if self.github.rstrip("/") == "https://github.com"
                   else f"{self.github.rstrip('/')}/api/v3")
            object.__setattr__(self, "github_api", api)


@dataclass(frozen=True)
class SplitArchive:
    """A Zenodo record holding one split zip, and the folder it unpacks."""

    key: str                 # "dev_set" / "eval_set"
    record: int
    basename: str            # file names: <basename>.z01 ... .zNN, <basename>.zip
    n_segments: int
    inner: str               # folder inside the archive that data/<key> links to

    @property
    def file_names(self) -> List[str]:
        return [f"{self.basename}.z{i:02d}" for i in range(1, self.n_segments + 1)] + \
            [f"{self.basename}.zip"]


DEV_ARCHIVE = SplitArchive("dev_set", 19328046, "DCASE2026Task4Dataset", 10, DEV_SET_IN_ARCHIVE)
EVAL_ARCHIVE = SplitArchive("eval_set", 20425860, "DCASE2026Task4EvaluationDataset", 4,
                            EVAL_SET_IN_ARCHIVE)


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: URL, local name, and what is known to verify it (``checksum``:
    ``md5:<hex>`` / ``sha256:<hex>``, or a bare md5)."""

    url: str
    name: str
    checksum: Optional[str] = None
    size: Optional[int] = None

    def __post_init__(self) -> None:
        if self.checksum is not None:
            object.__setattr__(self, "checksum", parse_checksum(self.checksum, f"checksum of {self.url}"))


def release_file(sources: Sources, repo: str, tag: str, name: str,
                 table: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> RemoteFile:
    """A GitHub release asset, verified by the sha256 of the checksum table (key
    ``<repo name>-<tag>/<name>``), else by the digest GitHub's API publishes for the asset
    (``<api>/repos/<repo>/releases/tags/<tag>``, field ``digest``), else unverified."""
    checksum = (table or {}).get(f"{repo.split('/')[-1]}-{tag}/{name}")
    size = None
    if checksum is None:
        api = f"{sources.github_api}/repos/{repo}/releases/tags/{tag}"
        try:
            with urllib.request.urlopen(api, timeout=timeout) as r:
                assets = json.load(r).get("assets", [])
            asset = next((a for a in assets if isinstance(a, dict) and a.get("name") == name), {})
            digest = asset.get("digest")
            checksum = digest if isinstance(digest, str) and digest.startswith("sha256:") else None
            size = asset.get("size") if isinstance(asset.get("size"), int) else None
        except (OSError, ValueError, HTTPException, AttributeError) as e:
            log.warning("cannot read %s (%s); %s is checked by the zip CRCs only", api, e, name)
    return RemoteFile(f"{sources.github}/{repo}/releases/download/{tag}/{name}", name, checksum, size)


def m2d_file(sources: Sources, table: Optional[Dict[str, str]] = None) -> RemoteFile:
    return release_file(sources, "nttcslab/m2d", "v0.3.0", f"{M2D_FOLDER}.zip", table)


def baseline_file(sources: Sources, table: Optional[Dict[str, str]] = None) -> RemoteFile:
    return release_file(sources, "nttcslab/dcase2026_task4_baseline", "v1.0.0", "baseline_checkpoint.zip", table)


# --------------------------------------------------------------------------- checksums
def zenodo_files(archive: SplitArchive, sources: Sources, table: Dict[str, str],
                 timeout: float = 30.0) -> List[RemoteFile]:
    """The archive's files with md5/size from the Zenodo API, else from ``table``."""
    api = f"{sources.zenodo}/api/records/{archive.record}"
    known: Dict[str, Tuple[Optional[str], Optional[int]]] = {}
    try:
        with urllib.request.urlopen(api, timeout=timeout) as r:
            record = json.load(r)
        for entry in record.get("files", []):
            checksum = str(entry.get("checksum", ""))
            md5 = checksum if checksum.startswith("md5:") else None
            known[entry["key"]] = (md5, entry.get("size"))
    except (OSError, ValueError, HTTPException, KeyError) as e:
        log.warning("cannot read %s (%s); using the checksum table instead", api, e)
    out = []
    for name in archive.file_names:
        md5, size = known.get(name, (None, None))
        checksum = md5 or table.get(f"{archive.record}/{name}")
        out.append(RemoteFile(f"{sources.zenodo}/records/{archive.record}/files/{name}", name,
                              checksum, size))
    return out


def _problem_with(path: Path, remote: RemoteFile) -> Optional[str]:
    """None if ``path`` matches what is known about ``remote``, else what is wrong."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"size {size} bytes, expected {remote.size}"
    if remote.checksum is not None:
        algorithm, expected = remote.checksum.split(":")
        got = file_digest(path, algorithm)
        if got != expected:
            return f"{algorithm} {got}, expected {expected}"
    return None


# --------------------------------------------------------------------------- download
def _place_by_hand(remote: RemoteFile, dest: Path) -> str:
    check = f" ({remote.checksum.replace(':', ' ')})" if remote.checksum else ""
    return (f"Expected file: {dest.absolute()}{check}. If this machine cannot reach the "
            f"server, download it elsewhere (e.g. `wget {remote.url}`), copy it there and "
            f"re-run this stage; or use --local_data_dir DIR with an already extracted corpus "
            f"(DIR/dev_set and DIR/eval_set).")


def _transfer(url: str, part: Path, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (Range request from its current size)."""
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:     # nothing left to fetch: the part is complete
            return
        raise
    with resp:
        if offset and resp.status != 206:      # server ignored the range: start over
            offset = 0
        length = resp.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else None
        with open(part, "ab" if offset else "wb") as f, tqdm(
                total=expected, initial=offset, unit="B", unit_scale=True, leave=False,
                desc=part.name[:-5], disable=expected is None or expected < 64 * CHUNK) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
        if expected is not None and part.stat().st_size < expected:
            raise ConnectionError(f"connection closed at {part.stat().st_size} of "
                                  f"{expected} bytes")


def fetch(remote: RemoteFile, dest: Path, retries: int = 3, backoff: float = 2.0,
          timeout: float = 60.0) -> Path:
    """Download ``remote`` to ``dest`` unless a verified copy is there; resume ``.part`` files.

    Raises S5InputError naming the URL, the expected file and how to place it by hand when
    the server cannot be reached, and after removing the ``.part`` on a checksum mismatch.
    """
    dest = Path(dest)
    if dest.is_file():
        problem = _problem_with(dest, remote)
        if problem is None:
            if remote.checksum is None:
                log.warning("%s is present; no checksum known, not verified", dest)
            return dest
        log.warning("%s is present but has %s; downloading it again", dest, problem)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s%s", remote.url, dest,
             f" (resuming at {part.stat().st_size} bytes)" if part.exists() else "")
    for attempt in range(retries + 1):
        try:
            _transfer(remote.url, part, timeout)
            break
        except urllib.error.HTTPError as e:
            if e.code in (404, 410, 401, 403):
                raise S5InputError(f"cannot download {remote.url}: HTTP {e.code} {e.reason}. "
                                   + _place_by_hand(remote, dest)) from e
            error: Exception = e
        except (OSError, HTTPException) as e:      # URLError, resets, timeouts, cut transfers
            error = e
        if attempt == retries:
            raise S5InputError(f"cannot download {remote.url} after {retries + 1} attempt(s): "
                               f"{error}. " + _place_by_hand(remote, dest)
                               + (f" The partial download {part} is kept; re-running resumes it."
                                  if part.exists() else "")) from error
        log.warning("download of %s interrupted (%s); retrying", remote.url, error)
        time.sleep(backoff * 2 ** attempt)
    problem = _problem_with(part, remote)
    if problem is not None:
        part.unlink()
        raise S5InputError(f"downloaded {remote.url} has {problem}; the corrupt download was "
                           f"removed. Re-run to try again. " + _place_by_hand(remote, dest))
    if remote.checksum is None:
        log.warning("%s: no checksum is known, so it is not verified; its sha256 is %s: compare it "
                    "with the one its publisher shows and record it in local/checksums.txt",
                    dest, file_digest(part, "sha256"))
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------- unpack and link
def extract_zip(parts: Sequence[Path], dest_dir: Path) -> None:
    """Unpack a (split) zip into ``dest_dir`` through a temporary folder, then move it in.

    Top-level entries already in ``dest_dir`` (an unfinished earlier run) are replaced.
    """
    dest_dir = Path(dest_dir)
    tmp = dest_dir / f".unpacking-{Path(parts[-1]).stem}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        with open_split_zip(parts) as zf:
            for info in tqdm(zf.infolist(), desc=f"unpack {Path(parts[-1]).name}", leave=False,
                             disable=len(zf.infolist()) < 1000):
                zf.extract(info, tmp)           # CRC-checked; names sanitised by zipfile
        for entry in sorted(tmp.iterdir()):
            target = dest_dir / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            entry.rename(target)
    except Exception as e:  # SplitZipError, BadZipFile (CRC), OSError (disk full), ...
        shutil.rmtree(tmp, ignore_errors=True)
        raise S5InputError(f"cannot unpack {parts[-1]}: {e}. Delete the archive file(s) and "
                           f"re-run to download them again.") from e
    shutil.rmtree(tmp, ignore_errors=True)


def link(target: Path, link_path: Path) -> None:
    """Make ``link_path`` a symlink to ``target`` (absolute); replace an older link only."""
    target, link_path = Path(target).resolve(), Path(link_path)
    if link_path.is_symlink():
        if link_path.resolve() == target:
            return
        link_path.unlink()
    elif link_path.exists():
        if link_path.resolve() == target:
            return
        raise S5InputError(f"{link_path} exists and is not a symbolic link; move it away so "
                           f"that it can point to {target}")
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target, target_is_directory=target.is_dir())
    log.info("linked %s -> %s", link_path, target)


def _stamp(corpus_dir: Path, name: str) -> Path:
    return Path(corpus_dir) / f".{name}.unpacked"


def ensure_archive(archive: SplitArchive, corpus_dir: Path, sources: Sources,
                   table: Dict[str, str], **fetch_args) -> Path:
    """Download (if needed), verify and unpack a Zenodo split archive -> its inner folder."""
    corpus_dir = Path(corpus_dir)
    inner = corpus_dir / archive.inner
    if _stamp(corpus_dir, archive.basename).is_file() and inner.is_dir():
        log.info("%s: already unpacked in %s", archive.key, inner)
        return inner
    remotes = zenodo_files(archive, sources, table)
    parts = [fetch(r, corpus_dir / r.name, **fetch_args) for r in remotes]
    extract_zip(parts, corpus_dir)
    if not inner.is_dir():
        raise S5InputError(f"{archive.basename}.zip did not contain {archive.inner}; is it the "
                           f"right archive (Zenodo record {archive.record})?")
    _stamp(corpus_dir, archive.basename).write_text("\n".join(archive.file_names) + "\n")
    return inner


def _unpack_release(remote: RemoteFile, checkpoint_dir: Path, wanted: Sequence[str],
                    **fetch_args) -> Dict[str, Path]:
    """Fetch a release zip into ``checkpoint_dir``, unpack, find each ``wanted`` file name."""
    checkpoint_dir = Path(checkpoint_dir)
    zip_path = fetch(remote, checkpoint_dir / remote.name, **fetch_args)
    tmp = checkpoint_dir / f".unpacking-{zip_path.stem}"
    extract_zip([zip_path], tmp)
    found = {}
    for name in wanted:
        hits = sorted(tmp.rglob(name))
        if not hits:
            shutil.rmtree(tmp, ignore_errors=True)
            raise S5InputError(f"{zip_path} does not contain {name}; delete it and re-run")
        found[name] = hits[0]
    return found


def ensure_m2d(checkpoint_dir: Path, sources: Sources, table: Optional[Dict[str, str]] = None,
               **fetch_args) -> Path:
    """checkpoint/<M2D_FOLDER>/<M2D_WEIGHTS> (download + unzip if missing)."""
    folder = Path(checkpoint_dir) / M2D_FOLDER
    if (folder / M2D_WEIGHTS).is_file():
        return folder
    found = _unpack_release(m2d_file(sources, table), checkpoint_dir, [M2D_WEIGHTS],
                            **fetch_args)
    src_folder = found[M2D_WEIGHTS].parent
    if folder.exists():
        shutil.rmtree(folder)
    src_folder.rename(folder)
    shutil.rmtree(Path(checkpoint_dir) / f".unpacking-{M2D_FOLDER}", ignore_errors=True)
    return folder


def ensure_baseline_checkpoints(checkpoint_dir: Path, sources: Sources,
                                table: Optional[Dict[str, str]] = None, **fetch_args) -> None:
    """checkpoint/{m2dat_1c,m2dat_4c,resunetk}.ckpt from the baseline v1.0.0 release."""
    checkpoint_dir = Path(checkpoint_dir)
    if all((checkpoint_dir / n).is_file() for n in BASELINE_CKPTS):
        return
    remote = baseline_file(sources, table)
    found = _unpack_release(remote, checkpoint_dir, BASELINE_CKPTS, **fetch_args)
    for name, path in found.items():
        os.replace(path, checkpoint_dir / name)
    shutil.rmtree(checkpoint_dir / f".unpacking-{Path(remote.name).stem}", ignore_errors=True)


def find_local_sets(local_dir: Path) -> Tuple[Path, Optional[Path]]:
    """Find dev_set (required) and eval_set (optional) in an extracted copy."""
    local_dir = Path(local_dir)

    def first(cands: Sequence[Path]) -> Optional[Path]:
        return next((c for c in cands if c.is_dir()), None)

    dev = first([local_dir / "dev_set", local_dir / "data" / "dev_set",
                 local_dir / DEV_SET_IN_ARCHIVE, local_dir])
    if dev is None or not (dev / "sound_event").is_dir():
        raise S5InputError(
            f"--local_data_dir {local_dir}: no dev_set found (looked for dev_set/, data/dev_set/, "
            f"{DEV_SET_IN_ARCHIVE}/ holding sound_event/); point it to the folder that holds "
            f"the extracted dev_set/ (and eval_set/)")
    eval_set = first([local_dir / "eval_set", local_dir / "data" / "eval_set",
                      local_dir / EVAL_SET_IN_ARCHIVE])
    return dev, eval_set
