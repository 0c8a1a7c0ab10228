"""Pack a trained S5 system into one archive, unpack it for decoding, share it on the Hub.

    python -m espnet2_ext.bin.s5_pack pack --tagger_model exp/tag_blocks_4c/valid.loss.best.pth \\
        --separator_model exp/sep_resunetk/valid.loss.best.pth --score_dir exp/decode_.../test/score \\
        --outpath exp/packed/<name>.zip [--calibration exp/.../calibration_<model>.json] [--hf_repo user/name]
    python -m espnet2_ext.bin.s5_pack unpack --archive exp/packed/<name>.zip --outdir exp/packed/<name>
    python -m espnet2_ext.bin.s5_pack upload --archive exp/packed/<name>.zip --hf_repo user/name

The archive is written with espnet2's own packing code (``espnet2.main_funcs.pack_funcs``:
``meta.yaml`` listing the files, configs rewritten to the unpacked paths on unpacking) in
a fixed layout, whatever the experiment names::

    meta.yaml
    tagger/model.pth  tagger/config.yaml  separator/model.pth  separator/config.yaml
    m2d_weight_reference.yaml      the M2D weight file the tagger is built on: path and sha256
                                   (not the 350 MB file itself: stage 1 downloads it)
    calibration.json               the calibrated slot decisions it was scored with, when given
    RESULTS.md  results.json       the dev-test scores of the system, when given
    report/                        its listening report, when the score folder has one
    README.md                      the model card (espnet2_ext/s5/model_card.py): system, training
                                   configs, dev-test scores and intervals, code version, usage,
                                   licence, citation, under a Hugging Face metadata header

Packing refuses anything in the score folder that is a link leading out of it (or to a folder,
or to nothing) and any special file: a link to ``~/.ssh/id_rsa`` is not published with the system.

``unpack`` is our own code (:mod:`espnet2_ext.archive`), not espnet2's: every member is checked
before anything is written (no absolute, ``..``, link, special, duplicated or control-character
member, at most ``--max_unpacked_gb`` GB unpacked, default 4), every path ``meta.yaml`` names
must be a file of the archive, YAML is read with ``yaml.safe_load``, the M2D weight reference
must be a mapping of strings naming a present file with the recorded digest; only then is the
folder written, as a unit (a previous unpacked copy is replaced). It prints
``tagger_model=...`` and ``separator_model=...`` lines (and ``calibration=...`` when packed)
for run.sh.
``upload`` (and ``pack --hf_repo owner/name``) puts the archive and its README.md (the model card,
at the top of the repository) on the Hugging Face Hub with ``HfApi().upload_folder``; the token
is huggingface_hub's own (``HF_TOKEN`` or ``huggingface-cli login``). A repository it creates is
private (the official baseline's licence restricts distribution: make it public on the Hub once
you have checked it); an archive already there is replaced, so the repository holds one system
(what ``S5Separate.from_pretrained("owner/name")`` expects). The repository id is checked
before any work; offline or on any Hub error it fails with one ERROR line saying why and where
the archive is kept, and leaves nothing behind.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from espnet2_ext.archive import (ARCHIVE_SUFFIXES, DEFAULT_MAX_BYTES, CheckedArchive, check_outdir,
                                  espnet2_yaml_rewrites, inside, open_checked)
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir, check_output_file
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import atomic_path
from espnet2_ext.identity import code_version, file_digest, read_record
from espnet2_ext.names import check_folder_name, check_name, error_summary
from espnet2_ext.s5.calibration import Calibration
from espnet2_ext.s5.model_card import CARD_FILE, model_card
from espnet2_ext.s5.model_files import config_path
from espnet2_ext.s5.official import m2d_weight_path
from espnet2_ext.s5.pretrained import check_hf_repo, system_members
from espnet2_ext.s5.results import read_results_json
from espnet2_ext.validate import keys, positive_float, typed

pack_funcs = quiet_import("espnet2.main_funcs.pack_funcs")
M2D_REFERENCE = "m2d_weight_reference.yaml"
CALIBRATION_FILE = "calibration.json"
SCORE_FILES = ("RESULTS.md", "results.json")
REPORT_DIR = "report"
REPACK = "re-pack the system with stage 9 (s5_pack pack)"
ARCHIVE_TYPES = tuple(ARCHIVE_SUFFIXES)          # what unpack reads: what pack writes


def _stage_model(model_file: Path, name: str, root: Path) -> Dict[str, str]:
    """Copy an espnet2 model file and its config.yaml to ``root/<name>/``."""
    config = config_path(model_file, None)
    if not model_file.is_file():
        raise S5InputError(f"{model_file}: model file not found (train the {name} first)")
    if not config.is_file():
        raise S5InputError(f"{config} not found beside {model_file}: pack an espnet2 model file of this recipe")
    (root / name).mkdir()
    shutil.copyfile(model_file, root / name / "model.pth")
    shutil.copyfile(config, root / name / "config.yaml")
    return {f"{name}_model": f"{name}/model.pth", f"{name}_config": f"{name}/config.yaml"}


def _packable(score_dir: Path, rel: Path) -> bool:
    """Whether ``score_dir/rel`` is packed as a file (else a folder); stop on a link leading out of
    the score folder, to a folder or to nothing, and on a special file (FIFO, device, socket)."""
    path = score_dir / rel
    if path.is_symlink():
        target = path.resolve()
        if not inside(score_dir, target):
            raise S5InputError(f"--score_dir {score_dir}: {rel} is a link to {target}, outside the score folder; "
                               f"packing it would publish that file with the system. Replace the link with a "
                               f"copy of what belongs to the scores, or remove it")
        if not target.is_file():
            raise S5InputError(f"--score_dir {score_dir}: {rel} is a link to {target}, which is not a file "
                               f"(a folder, or nothing); replace it with the files themselves or remove it")
        return True
    if not (path.is_file() or path.is_dir()):
        raise S5InputError(f"--score_dir {score_dir}: {rel} is not a file or a folder (a FIFO, socket or "
                           f"device); remove it from the score folder")
    return path.is_file()


def score_files(score_dir: Optional[Path]) -> List[Path]:
    """The files packed from the stage-8 score folder (relative to it): RESULTS.md, results.json
    and the listening report, every one checked by :func:`_packable` before anything is written."""
    if score_dir is None:
        return []
    chosen = [Path(name) for name in SCORE_FILES if os.path.lexists(score_dir / name)
              and _packable(score_dir, Path(name))]
    report = Path(REPORT_DIR)
    if os.path.lexists(score_dir / report) and not _packable(score_dir, report):     # the report folder
        for folder, subfolders, names in os.walk(score_dir / report):     # links are not followed
            rel = Path(folder).relative_to(score_dir)
            for sub in subfolders:
                _packable(score_dir, rel / sub)                           # a link to a folder stops here
            chosen += [rel / name for name in sorted(names) if _packable(score_dir, rel / name)]
    return chosen


def _training_code(model_file: Path) -> Optional[str]:
    """The code version recorded in the identity.json of the model's experiment folder, if any."""
    record = read_record(model_file.parent)
    return None if record is None else record.get("code_version")


def _shown(path: Path) -> str:
    """``path`` for the card: relative to the working folder when inside it (no home folder published)."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def _card(root: Path, name: str, sources: Dict[str, Path], files: Dict[str, str], outpath: Path,
          score_dir: Optional[Path], hf_repo: Optional[str]) -> str:
    """The model card of the system staged in ``root`` (see :mod:`espnet2_ext.s5.model_card`)."""
    results = (read_results_json(root / "results.json", f"results.json of --score_dir {score_dir}")
               if "results_json" in files else None)
    calibration = None
    if "calibration" in files:
        cal = Calibration.from_file(root / CALIBRATION_FILE)
        calibration = {"objective": cal.info.get("objective", "not recorded"), "min_probability": cal.min_probability}
    scored = ((results or {}).get("config") or {}).get("environment") or {}
    return model_card(
        name, {kind: yaml.safe_load((root / kind / "config.yaml").read_text()) for kind in ("tagger", "separator")},
        {kind: _shown(path) for kind, path in sources.items()},
        {kind: file_digest(root / kind / "model.pth") for kind in ("tagger", "separator")},
        yaml.safe_load((root / M2D_REFERENCE).read_text()), files, outpath.name, calibration, results,
        {"tagger training": _training_code(sources["tagger"]),
         "separator training": _training_code(sources["separator"]),
         "dev-test scoring (stage 8)": scored.get("code_version") if isinstance(scored, dict) else None,
         "packing (stage 9)": code_version()},
        hf_repo, where=f"results.json of --score_dir {score_dir}")


def pack_system(tagger_model: Path, separator_model: Path, outpath: Path,
                score_dir: Optional[Path] = None, calibration: Optional[Path] = None,
                hf_repo: Optional[str] = None) -> Path:
    """Write the archive (atomically), its model card README.md included, and return its path.

    ``hf_repo``: the Hub repository the system is going to (named in the card's usage)."""
    if outpath.suffix not in ARCHIVE_TYPES:
        raise S5InputError(f"--outpath {outpath}: use one of {', '.join(ARCHIVE_TYPES)} (espnet2's archive types)")
    packed_scores = score_files(score_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = {**_stage_model(tagger_model, "tagger", root), **_stage_model(separator_model, "separator", root)}
        weight_file = ((yaml.safe_load((root / "tagger" / "config.yaml").read_text()).get("tagger_conf") or {}
                        ).get("weight_file") or m2d_weight_path())
        if not weight_file or not Path(weight_file).is_file():
            raise S5InputError(f"the tagger's M2D weight file {weight_file!r} (tagger_conf.weight_file in "
                               f"{config_path(tagger_model, None)}) is not here; pack from the recipe folder")
        (root / M2D_REFERENCE).write_text(yaml.safe_dump({"path": weight_file, "digest": file_digest(weight_file)}))
        files = {"m2d_weight_reference": M2D_REFERENCE, "tagger_model": names["tagger_model"],
                 "separator_model": names["separator_model"]}
        if calibration is not None:
            Calibration.from_file(calibration)           # a readable s5_calibrate file, or one ERROR line
            shutil.copyfile(calibration, root / CALIBRATION_FILE)
            files["calibration"] = CALIBRATION_FILE
        for rel in packed_scores:          # a link inside the score folder: the file it leads to
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(score_dir / rel, root / rel)
        files.update({name.replace(".", "_"): name for name in SCORE_FILES if Path(name) in packed_scores})
        card = _card(root, archive_stem(outpath), {"tagger": tagger_model, "separator": separator_model}, files,
                     outpath, score_dir, hf_repo)
        with atomic_path(root / CARD_FILE) as tmp_card:
            tmp_card.write_text(card, encoding="utf-8")
        extra = [CARD_FILE] + ([REPORT_DIR] if (root / REPORT_DIR).is_dir() else [])
        outpath = outpath.resolve()
        cwd = os.getcwd()
        try:
            os.chdir(root)        # espnet2 stores the files under their paths relative to the cwd
            with atomic_path(outpath, suffix=outpath.suffix) as tmp_archive:
                pack_funcs.pack(files=files, outpath=tmp_archive, option=extra,
                                yaml_files={"tagger_config": names["tagger_config"],
                                            "separator_config": names["separator_config"]})
        finally:
            os.chdir(cwd)
    return outpath


def _check_m2d_reference(arc: CheckedArchive, name: str) -> None:
    """The packed M2D weight reference is a mapping of strings naming a present file with its digest."""
    where = f"{arc.path}: {name}"
    ref = keys(arc.read_yaml(name, "M2D weight reference"), ("path", "digest"), where, "the reference", REPACK)
    path, digest = (typed(ref[key], str, where, key, REPACK) for key in ("path", "digest"))
    check_name(path, f"{where}: path", REPACK)
    if not Path(path).is_file():
        raise S5InputError(f"the packed tagger needs the M2D weight file {path}: download it "
                           f"(./run.sh --stage 1 --stop-stage 1) or link it there")
    if file_digest(path) != digest:
        raise S5InputError(f"{path} is not the M2D weight file this system was trained on "
                           f"(sha256 differs from {arc.path})")


def unpack_system(archive: Path, outdir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Dict[str, str]:
    """Check the archive (members, meta.yaml, configs, M2D weight reference), then unpack it into
    ``outdir`` as a unit; return meta.yaml's keys -> unpacked paths (``outdir/<member>``)."""
    outdir = check_outdir(outdir)
    with open_checked(archive, max_bytes) as arc:
        yaml_files, files = system_members(arc)
        names = {**yaml_files, **files}
        _check_m2d_reference(arc, names["m2d_weight_reference"])
        arc.extract(outdir, espnet2_yaml_rewrites(arc, yaml_files, outdir))
    paths = {key: str(outdir / name) for key, name in names.items()}
    stray = [path for path in paths.values() if not (inside(outdir, path) and Path(path).is_file())]
    if stray:                              # the member checks make this impossible; never trust it blindly
        raise S5InputError(f"{archive}: {stray[0]} is not a file inside {outdir} after unpacking; {REPACK}")
    return paths


def archive_stem(archive: Path) -> str:
    """The system's name: the archive's file name without its archive suffix."""
    return archive.name[:-len(archive.suffix)] if archive.suffix in ARCHIVE_TYPES else archive.name


def upload(archive: Path, hf_repo: str) -> None:
    """Upload ``archive`` and its model card to the Hub model repository ``hf_repo`` (created,
    private, when missing) with ``HfApi().upload_folder``: a temporary folder beside the archive
    holds the archive (a hard link where possible) and README.md (from the archive)."""
    check_hf_repo(hf_repo)
    if not archive.is_file():
        raise S5InputError(f"--archive {archive}: file not found")
    with open_checked(archive) as arc:
        card = arc.read(CARD_FILE, "model card") if CARD_FILE in arc.files() else None
    kept = f"the archive is kept at {archive.resolve()}"
    try:
        from huggingface_hub import HfApi
    except ImportError as e:
        raise S5InputError(f"uploading to the Hugging Face Hub repository {hf_repo} failed: huggingface_hub is "
                           f"not installed (pip install huggingface_hub); {kept}") from e
    if card is None:
        logging.warning("%s has no %s (packed before model cards): uploading the archive alone; re-pack it "
                        "with stage 9 for a model card", archive, CARD_FILE)
    with tempfile.TemporaryDirectory(prefix=".upload_", dir=archive.resolve().parent) as tmp:
        folder = Path(tmp)
        try:
            os.link(archive, folder / archive.name)
        except OSError:
            shutil.copyfile(archive, folder / archive.name)
        if card is not None:
            (folder / CARD_FILE).write_bytes(card)
        api = HfApi()
        try:
            api.create_repo(hf_repo, repo_type="model", exist_ok=True, private=True)
            api.upload_folder(folder_path=str(folder), repo_id=hf_repo, repo_type="model",
                              commit_message=f"Upload the S5 system {archive_stem(archive)} (stage 9)",
                              delete_patterns=[f"*{suffix}" for suffix in ARCHIVE_TYPES])
        except Exception as e:   # offline, no token, no permission, Hub error: nothing was changed here
            raise S5InputError(f"uploading {archive.name} to the Hugging Face Hub repository {hf_repo} failed: "
                               f"{error_summary(e)} (check the network and `huggingface-cli login`); {kept}") from e
    logging.info("uploaded %s%s to https://huggingface.co/%s", archive.name,
                 f" and {CARD_FILE}" if card is not None else "", hf_repo)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="pack a tagger and a separator")
    pk.add_argument("--tagger_model", type=Path, required=True)
    pk.add_argument("--separator_model", type=Path, required=True)
    pk.add_argument("--score_dir", type=Path, default=None, help="stage-8 score folder (RESULTS.md, results.json)")
    pk.add_argument("--outpath", type=Path, required=True, help="the archive (.zip, .tgz or .tar)")
    pk.add_argument("--calibration", type=Path, default=None, help="s5_calibrate file the system decodes with")
    pk.add_argument("--hf_repo", default=None, help="also upload the archive and its model card to this Hugging "
                    "Face Hub model repository (owner/name)")
    up = sub.add_parser("unpack", help="unpack for decoding")
    up.add_argument("--archive", type=Path, required=True)
    up.add_argument("--outdir", type=Path, required=True, help="replaced whole: a new, empty or unpacked folder")
    up.add_argument("--max_unpacked_gb", type=positive_float, default=DEFAULT_MAX_BYTES / 1e9,
                    help="refuse an archive that unpacks to more than this many GB (10^9 bytes)")
    hf = sub.add_parser("upload", help="upload to the Hugging Face Hub")
    hf.add_argument("--archive", type=Path, required=True)
    hf.add_argument("--hf_repo", required=True, help="e.g. user/dcase26t4_s5_system")
    ck = sub.add_parser("check_hf_repo", help="only check a --hf_repo value (run.sh, before any work)")
    ck.add_argument("--hf_repo", required=True)
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    args = get_parser().parse_args(cmd)
    if getattr(args, "hf_repo", None) is not None:      # before any work
        check_hf_repo(args.hf_repo)
    if args.command == "pack":          # the archive's name becomes its unpacked folder's (run.sh)
        check_folder_name(args.outpath.name, "--outpath")
        check_output_file(args.outpath, "--outpath")
    elif args.command == "unpack":
        check_output_dir(args.outdir, "--outdir")
    if args.command == "pack":
        out = pack_system(args.tagger_model, args.separator_model, args.outpath, args.score_dir, args.calibration,
                          args.hf_repo)
        logging.info("packed %s", out)
        if args.hf_repo is not None:
            upload(out, args.hf_repo)
    elif args.command == "unpack":
        files = unpack_system(args.archive, args.outdir, int(args.max_unpacked_gb * 1e9))
        print(f"tagger_model={files['tagger_model']}\nseparator_model={files['separator_model']}")
        if "calibration" in files:
            print(f"calibration={files['calibration']}")
    elif args.command == "upload":
        upload(args.archive, args.hf_repo)


if __name__ == "__main__":
    main()
