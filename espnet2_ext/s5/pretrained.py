"""Where :meth:`S5Separate.from_pretrained <espnet2_ext.s5.api.S5Separate.from_pretrained>` finds a system.

* a stage-9 archive (``.zip``, ``.tgz``, ``.tar``, written by ``s5_pack pack``): unpacked by the
  checked unpacker (:mod:`espnet2_ext.archive`) into ``<cache_dir>/<sha256 prefix>``
  (default ``~/.cache/dcase26t4/models``, or ``$DCASE26T4_CACHE``), reused while the archive is
  the same;
* an unpacked archive folder (it has ``meta.yaml``);
* a decode folder (``exp/decode_*/test``, or ``exp/decode_*`` holding such folders): the models
  that ``s5_inference`` recorded in ``model_info.json``, checked against ``identity.json``;
* a Hugging Face Hub model repository ``owner/name`` holding one archive (``s5_pack upload``),
  fetched with ``huggingface_hub.snapshot_download``.

A packed tagger is built on the M2D weight file its ``m2d_weight_reference.yaml`` names
(relative to the current folder, i.e. the recipe folder) or on ``m2d_weight_file=``; either way
the file's sha256 must be the recorded one.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from espnet2_ext.archive import ARCHIVE_SUFFIXES, CheckedArchive, check_outdir, espnet2_members, espnet2_yaml_rewrites, \
    inside, open_checked
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_json, read_yaml_mapping
from espnet2_ext.identity import IDENTITY_FILE, file_digest
from espnet2_ext.names import error_summary
from espnet2_ext.s5.official import DEFAULT_TAGGER_TYPE, M2D_WEIGHTS

PathLike = Union[str, os.PathLike]
META = "meta.yaml"
MODEL_INFO = "model_info.json"
#: meta.yaml keys every packed S5 system has (``s5_pack pack``)
REQUIRED_KEYS = ("tagger_model", "separator_model", "m2d_weight_reference")
#: a Hub model repository id: owner/name, each 1-96 of [A-Za-z0-9._-], not starting or ending
#: with '.' or '-', no '--' or '..' (huggingface_hub's validate_repo_id rules)
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
HF_REPO_PATTERN = re.compile(rf"{_HUB_PART}/{_HUB_PART}")
SOURCES = ("a stage-9 archive (exp/packed/<name>.zip, .tgz or .tar), its unpacked folder, a decode folder "
           "(exp/decode_<system>/test) or a Hugging Face Hub repository id owner/name")


@dataclass(frozen=True)
class SystemFiles:
    """The files :class:`~espnet2_ext.s5.api.S5Separate` is built from."""

    tagger_model: Path
    separator_model: Path
    calibration: Optional[Path] = None
    m2d_weight_file: Optional[Path] = None
    tagger_type: str = DEFAULT_TAGGER_TYPE
    tagger_config: Optional[Path] = None
    separator_config: Optional[Path] = None


def is_hub_id(text: str) -> bool:
    """Whether ``text`` is a Hub model repository id ``owner/name`` (the rules of HF_REPO_PATTERN)."""
    return bool(HF_REPO_PATTERN.fullmatch(text)) and "--" not in text and ".." not in text \
        and not text.endswith(".git")


def check_hf_repo(hf_repo: str, option: str = "--hf_repo") -> str:
    """``hf_repo`` if it is a Hub model repository id ``owner/name``, else one S5InputError naming ``option``."""
    if not is_hub_id(hf_repo):
        raise S5InputError(f"{option} {hf_repo!r}: not a Hugging Face Hub repository id; give owner/name "
                           f"(letters, digits, '-', '_', '.'; at most 96 each; no '--' or '..')")
    return hf_repo


def default_cache_dir() -> Path:
    """``$DCASE26T4_CACHE/models`` or ``~/.cache/dcase26t4/models``."""
    root = os.environ.get("DCASE26T4_CACHE") or Path.home() / ".cache" / "dcase26t4"
    return Path(root) / "models"


def resolve_system(source: PathLike, m2d_weight_file: Optional[PathLike] = None,
                   cache_dir: Optional[PathLike] = None, revision: Optional[str] = None) -> SystemFiles:
    """The system files of ``source`` (see the module docstring); one S5InputError otherwise."""
    path = Path(source)
    if path.is_file():
        if path.suffix not in ARCHIVE_SUFFIXES:
            raise S5InputError(f"{path} is not an archive stage 9 writes ({', '.join(ARCHIVE_SUFFIXES)}); "
                               f"from_pretrained takes {SOURCES}")
        return unpacked_system(unpack_to_cache(path, cache_dir), m2d_weight_file)
    if path.is_dir():
        if (path / META).is_file():
            return unpacked_system(path, m2d_weight_file)
        return decoded_system(path, m2d_weight_file)
    looks_local = path.suffix in ARCHIVE_SUFFIXES or path.parent.is_dir()     # exp/decode_x, x.zip
    if isinstance(source, str) and is_hub_id(source) and not looks_local:
        return unpacked_system(unpack_to_cache(hub_archive(source, revision), cache_dir), m2d_weight_file)
    raise S5InputError(f"{source}: no such file or folder; from_pretrained takes {SOURCES}")


# ---------------------------------------------------------------------- archives
def system_members(arc: CheckedArchive) -> Tuple[Dict[str, str], Dict[str, str]]:
    """meta.yaml's (yaml_files, files) of a checked archive that holds a packed S5 system
    (every key of REQUIRED_KEYS), else one error."""
    yaml_files, files = espnet2_members(arc)
    missing = [key for key in REQUIRED_KEYS if key not in {**yaml_files, **files}]
    if missing:
        raise S5InputError(f"{arc.path} lacks {', '.join(missing)} in its meta.yaml: not a packed S5 system; "
                           f"make one with stage 9 (s5_pack pack)")
    return yaml_files, files


def unpack_to_cache(archive: Path, cache_dir: Optional[PathLike] = None) -> Path:
    """Unpack ``archive`` with the checked unpacker into ``cache_dir/<sha256 prefix>`` (kept for reuse)."""
    outdir = Path(cache_dir or default_cache_dir()) / file_digest(archive).split(":")[-1][:16]
    if (outdir / META).is_file():
        return outdir
    check_outdir(outdir, "cache_dir")
    with open_checked(archive) as arc:
        yaml_files, files = system_members(arc)
        outdir.parent.mkdir(parents=True, exist_ok=True)
        arc.extract(outdir, espnet2_yaml_rewrites(arc, yaml_files, outdir))
    return outdir


def _member(folder: Path, meta: Dict[str, str], key: str, required: bool = True) -> Optional[Path]:
    """``folder/<meta[key]>``: a file inside ``folder``, or an error (None when optional and absent)."""
    if key not in meta:
        if required:
            raise S5InputError(f"{folder / META} has no '{key}': not an unpacked S5 system; unpack a stage-9 "
                               f"archive again (S5Separate.from_pretrained(<archive>))")
        return None
    path = folder / str(meta[key])
    if not (inside(folder, path) and path.is_file()):
        raise S5InputError(f"{folder / META}: {key} = {str(meta[key])!r} is not a file inside {folder}; "
                           f"unpack the archive again")
    return path


def packed_m2d_weight_file(folder: Path, reference: Path, given: Optional[PathLike]) -> Path:
    """The M2D weight file the packed tagger is built on: ``given``, else the referenced path; its
    sha256 must be the one recorded in ``reference``."""
    ref = read_yaml_mapping(reference, "M2D weight reference", "unpack the archive again")
    path, digest = ref.get("path"), ref.get("digest")
    if not isinstance(path, str) or not isinstance(digest, str):
        raise S5InputError(f"{reference} is not an M2D weight reference (path and digest strings); "
                           f"re-pack the system with stage 9")
    weights = Path(given) if given is not None else Path(path)
    if not weights.is_file():
        raise S5InputError(f"the packed tagger needs the M2D weight file {weights}: run from the recipe folder "
                           f"after stage 1 (./run.sh --stage 1 --stop-stage 1 downloads it) or pass "
                           f"m2d_weight_file=<path of {M2D_WEIGHTS}>")
    if file_digest(weights) != digest:
        raise S5InputError(f"{weights} is not the M2D weight file this system was trained on (its sha256 "
                           f"differs from the one in {reference}); pass the right m2d_weight_file=")
    return weights.resolve()


def unpacked_system(folder: Path, m2d_weight_file: Optional[PathLike] = None) -> SystemFiles:
    """The system of an unpacked stage-9 archive (``meta.yaml`` names its files)."""
    meta = read_yaml_mapping(folder / META, "espnet2 meta.yaml", "unpack the archive again")
    names = {**(meta.get("yaml_files") or {}), **(meta.get("files") or {})}
    member = {key: _member(folder, names, key, key in REQUIRED_KEYS)
              for key in (*REQUIRED_KEYS, "calibration", "tagger_config", "separator_config")}
    return SystemFiles(member["tagger_model"], member["separator_model"], member["calibration"],
                       packed_m2d_weight_file(folder, member["m2d_weight_reference"], m2d_weight_file),
                       tagger_config=member["tagger_config"], separator_config=member["separator_config"])


# ---------------------------------------------------------------------- decode folders
def _recorded_path(value: Optional[str], folder: Path) -> Optional[Path]:
    """A path ``s5_inference`` recorded (relative to the folder it ran in): as it is, or relative
    to one of the decode folder's parents (the recipe folder of ``exp/decode_*/test``)."""
    if value is None:
        return None
    path = Path(value)
    for base in (Path.cwd(), *folder.resolve().parents):
        if (base / path).is_file():
            return base / path
    return path


def decoded_system(folder: Path, m2d_weight_file: Optional[PathLike] = None) -> SystemFiles:
    """The models ``s5_inference`` decoded ``folder`` with (``model_info.json``), checked against
    the digests of its ``identity.json``."""
    if not (folder / MODEL_INFO).is_file():
        subsets = sorted(p for p in folder.iterdir() if (p / MODEL_INFO).is_file())
        if not subsets:
            raise S5InputError(f"{folder} is not a decode folder (no {MODEL_INFO}, no meta.yaml); "
                               f"from_pretrained takes {SOURCES}")
        folder = subsets[0]           # test/ and eval/ are decoded with the same models
    fix = "decode the folder again with this version (stage 7)"
    info = read_json(folder / MODEL_INFO, "decoding record", fix)
    record = read_json(folder / IDENTITY_FILE, "decode identity record", fix)
    identity = record.get("identity", {}) if isinstance(record, dict) else {}
    if not isinstance(info, dict) or info.get("oracle_labels") or not info.get("tagger_ckpt"):
        raise S5InputError(f"{folder} was decoded with oracle labels (no tagger): give a folder decoded with "
                           f"a tagger, or an archive")
    files = {key: _recorded_path(info.get(key), folder)
             for key in ("tagger_ckpt", "separator_ckpt", "calibration", "tagger_config", "separator_config",
                         "m2d_weight_file")}
    for key, digest in (("tagger_ckpt", (identity.get("tagger") or {}).get("file")),
                        ("separator_ckpt", (identity.get("separator") or {}).get("file")),
                        ("calibration", identity.get("calibration"))):
        if files[key] is None:
            continue
        if not files[key].is_file():
            raise S5InputError(f"{folder} was decoded with {info[key]}, which is not here: run from the "
                               f"folder it was decoded in (the recipe folder) or pass the files to S5Separate()")
        if digest is not None and file_digest(files[key]) != digest:
            raise S5InputError(f"{files[key]} has changed since {folder} was decoded (its sha256 differs from "
                               f"{folder / IDENTITY_FILE}); decode again, or pass the files to S5Separate()")
    tagger_type = (identity.get("tagger") or {}).get("tagger_type") or DEFAULT_TAGGER_TYPE
    m2d = files["m2d_weight_file"]        # the file the tagger was built on (recorded since the Python API)
    if m2d_weight_file is not None:
        m2d = Path(m2d_weight_file)
    elif m2d is not None and not m2d.is_file():
        raise S5InputError(f"{folder} was decoded with a tagger built on the M2D weight file {m2d}, which is not "
                           f"here: pass m2d_weight_file=<path of {M2D_WEIGHTS}>")
    return SystemFiles(files["tagger_ckpt"], files["separator_ckpt"], files["calibration"], m2d, tagger_type,
                       files["tagger_config"], files["separator_config"])


# ---------------------------------------------------------------------- the Hub
def hub_archive(repo_id: str, revision: Optional[str] = None) -> Path:
    """The one archive of the Hub model repository ``repo_id`` (downloaded to the Hub's cache)."""
    local = "pass a local archive instead: S5Separate.from_pretrained('exp/packed/<name>.zip')"
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise S5InputError(f"{repo_id} looks like a Hugging Face Hub id, but huggingface_hub is not "
                           f"installed (pip install huggingface_hub); or {local}") from None
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, repo_type="model",
                                        allow_patterns=[f"*{suffix}" for suffix in ARCHIVE_SUFFIXES]))
    except Exception as e:     # offline, unknown repository, no permission, ...
        raise S5InputError(f"could not reach the Hugging Face Hub repository {repo_id} ({error_summary(e)}); "
                           f"check the network and the name, or {local}") from None
    archives = sorted(p for p in folder.iterdir() if p.suffix in ARCHIVE_SUFFIXES and p.is_file())
    if len(archives) != 1:
        raise S5InputError(f"the Hub repository {repo_id} holds {len(archives)} archives "
                           f"({', '.join(p.name for p in archives) or 'none'}), not one; download the one you "
                           f"want and {local}")
    return archives[0]
