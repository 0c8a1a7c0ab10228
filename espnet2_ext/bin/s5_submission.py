r"""Package evaluation-set estimates as a DCASE2026 Task 4 submission (official layout, spec §6).

    python -m espnet2_ext.bin.s5_submission --eval_estimate_dir E --eval_soundscape_dir S \
        --dev_results R/results.json --author A --affiliation F --submission_number N \
        --output_dir O [--estimates_json E/estimates.json] [--nparams P] [--config_file C] \
        [--dev_soundscape_dir D] [--overwrite false]

Builds ``O/A_F_task4_N/`` with

* ``eval_out/<soundscape>_<i>_<Label>.wav`` (hard links to, or copies of, the estimates),
* ``eval_results.json`` = {nparams, probabilities: [{soundscape, estimate: [{filename, label,
  probability}]}], config},
* ``dev_set_test_results.json`` (the dev-test results.json of ``s5_score``),
* ``A_F_task4_N.meta.yaml``: the DCASE system meta-information file, filled from the run
  (or ``--meta_file``, your filled copy), validated before anything is written; the
  fields only a person can fill are listed as ``FILL ME`` (see :mod:`espnet2_ext.s5.submission_meta`),

and zips it to ``O/A_F_task4_N.zip`` (Python zipfile). Before writing anything it
checks what the official ``generate_waveform.py`` checks: every estimate name matches
``^<soundscape>(?:_(\d+))?_(.+)\.wav$`` with a valid label, the JSON lists exactly
the wavs, every eval soundscape has an entry, the dev results cover distinct
soundscapes (all of ``--dev_soundscape_dir`` when given). Like the official script it
refuses to fill a non-empty existing ``eval_out`` unless ``--overwrite true``.
The package is built in a temporary folder and renamed into place: a failure
leaves no partial output.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import List, Optional

import yaml
from tqdm import tqdm

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import check_wav, read_json, write_json
from espnet2_ext.s5 import estimates as est_io
from espnet2_ext.s5.results import read_results_json
from espnet2_ext.s5.official import ESTIMATES_JSON, N_CHANNELS, SAMPLE_RATE
from espnet2_ext.s5.submission_meta import build_meta, placeholders, validate_meta

log = logging.getLogger("s5_submission")
str2bool = quiet_import("espnet2.utils.types").str2bool

NAME_PART = re.compile(r"[A-Za-z0-9-]+")     # whole part (fullmatch: no trailing newline)


def submission_name(author: str, affiliation: str, number: int) -> str:
    """``<Author>_<Affiliation>_task4_<N>`` (DCASE naming; parts without '_').

    It names the package folder and zip: a part with anything but letters, digits and '-'
    (a newline, '/', '..', '_') is refused naming the option."""
    for what, part in (("--author", author), ("--affiliation", affiliation)):
        if not NAME_PART.fullmatch(part):
            raise S5InputError(f"{what} {part!r}: use letters, digits and '-' only (it becomes "
                               f"<Author>_<Affiliation>_task4_<N>)")
    if not 1 <= number <= 4:
        raise S5InputError(f"--submission_number {number}: DCASE allows systems 1..4")
    return f"{author}_{affiliation}_task4_{number}"


# ------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------
def eval_entries(args: argparse.Namespace, soundscapes: List[str], index) -> List[dict]:
    """The 'probabilities' list of eval_results.json, checked against the wavs."""
    path = args.estimates_json or args.eval_estimate_dir / ESTIMATES_JSON
    if path.is_file():
        entries = est_io.read_estimates_json(path)
        est_io.check_estimates_json(entries, index, path, require_every_soundscape=True)
        by_name = {s: entries[s] for s in soundscapes}
    elif args.estimates_json is not None:
        raise S5InputError(f"--estimates_json {path} not found")
    else:
        log.warning("no %s: probabilities set to 1.0 for every estimate", path)
        by_name = {s: [{"filename": f.filename, "label": f.label, "probability": 1.0} for f in index[s]]
                   for s in soundscapes}
    return [{"soundscape": s, "estimate": [{k: e[k] for k in ("filename", "label", "probability")}
                                           for e in by_name[s]]} for s in soundscapes]


def check_eval_wavs(soundscape_dir: Path, soundscapes: List[str], index) -> None:
    """Header check of every estimate: mono, 32 kHz, as long as its soundscape."""
    for s in tqdm(soundscapes, desc="checking eval estimates", unit="mix"):
        if index[s]:
            frames = check_wav(soundscape_dir / f"{s}.wav", SAMPLE_RATE, N_CHANNELS, what="eval soundscape").frames
            est_io.check_source_headers(index[s], frames, what="eval estimate")


def load_dev_results(path: Path, dev_soundscape_dir: Optional[Path]) -> dict:
    """Read the dev-test results.json and check its soundscape coverage (official check)."""
    results = read_results_json(path, "--dev_results")
    names = [d["soundscape"] for d in results["details"]]
    if len(set(names)) != len(names):
        raise S5InputError(f"--dev_results {path}: duplicated soundscape in 'details'")
    if dev_soundscape_dir is not None and set(names) != set(est_io.list_soundscapes(dev_soundscape_dir)):
        raise S5InputError(f"--dev_results {path} does not cover exactly the soundscapes of "
                           f"{dev_soundscape_dir}; score the whole dev test set")
    return results


def resolve_nparams(args: argparse.Namespace, dev_results: dict) -> int:
    if args.nparams is not None:
        return args.nparams
    if isinstance(dev_results.get("nparams"), int):
        return dev_results["nparams"]
    raise S5InputError("the number of parameters is unknown: pass --nparams N "
                       "(total parameters of tagger + separator)")


def read_config(path: Optional[Path]) -> dict:
    if path is None:
        return {}
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise S5InputError(f"cannot read --config_file {path}: {e}") from e


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------
def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy when the file system refuses)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def zip_folder(folder: Path, zip_path: Path) -> None:
    """Zip ``folder`` with its own name as the top-level entry (like ``zip -r``)."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted([folder, *folder.rglob("*")]):
            zf.write(path, path.relative_to(folder.parent).as_posix())


def system_meta(args: argparse.Namespace, name: str, nparams: int, dev_results: dict) -> dict:
    """The validated meta-information of the package (``--meta_file`` or filled from the run)."""
    if args.meta_file is not None:
        try:
            meta = yaml.safe_load(args.meta_file.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise S5InputError(f"cannot read --meta_file {args.meta_file}: {e}") from e
        source = f"--meta_file {args.meta_file}"
    else:
        meta = build_meta(name, args.author, args.affiliation, nparams, dev_results, args.system_name)
        source = f"{name}.meta.yaml"
    validate_meta(meta, name, source)
    todo = placeholders(meta)
    if todo:
        log.warning("%s: fill these fields by hand before submitting (or pass --meta_file with them filled): %s",
                    source, ", ".join(todo))
    return meta


def build_package(stage: Path, name: str, index, eval_results: dict, dev_results_path: Path, meta: dict) -> Path:
    """Write the package folder and zip under ``stage``; return the folder."""
    root = stage / name
    (root / "eval_out").mkdir(parents=True)
    (root / f"{name}.meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))
    files = [f for files in index.values() for f in files]
    for f in tqdm(files, desc="collecting eval_out", unit="wav"):
        link_or_copy(f.path, root / "eval_out" / f.filename)
    write_json(root / "eval_results.json", eval_results, indent=4)
    shutil.copyfile(dev_results_path, root / "dev_set_test_results.json")
    log.info("zipping %s", name)
    zip_folder(root, stage / f"{name}.zip")
    return root


def publish(stage: Path, name: str, output_dir: Path) -> None:
    """Move the staged folder and zip into ``output_dir``, replacing an old package."""
    dest, zip_dest = output_dir / name, output_dir / f"{name}.zip"
    if dest.exists():
        os.replace(dest, stage / f"{name}.old")
    os.replace(stage / name, dest)
    os.replace(stage / f"{name}.zip", zip_dest)


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------
def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eval_estimate_dir", type=Path, required=True, help="estimates of the eval set")
    p.add_argument("--eval_soundscape_dir", type=Path, required=True, help="eval set soundscapes")
    p.add_argument("--dev_results", type=Path, required=True, help="dev-test results.json of s5_score")
    p.add_argument("--author", required=True, help="first author's last name")
    p.add_argument("--affiliation", required=True, help="institute abbreviation")
    p.add_argument("--submission_number", type=int, required=True, help="system number 1..4")
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--estimates_json", type=Path, default=None,
                   help="probabilities (default: <eval_estimate_dir>/estimates.json; 1.0 if absent)")
    p.add_argument("--nparams", type=validate.nonnegative_int, default=None,
                   help="total parameter count (default: 'nparams' of --dev_results)")
    p.add_argument("--config_file", type=Path, default=None, help="YAML/JSON stored as 'config'")
    p.add_argument("--dev_soundscape_dir", type=Path, default=None,
                   help="if given, --dev_results must cover exactly these soundscapes")
    p.add_argument("--overwrite", type=str2bool, default=False, help="replace an existing package")
    p.add_argument("--meta_file", type=Path, default=None,
                   help="your filled <label>.meta.yaml (default: one filled from the run, FILL ME fields listed)")
    p.add_argument("--system_name", default=None, help="submission.name in the meta file")
    p.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


@cli_main
def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    check_output_dir(args.output_dir, "--output_dir")
    logging.basicConfig(level=args.log_level, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    name = submission_name(args.author, args.affiliation, args.submission_number)
    eval_out = args.output_dir / name / "eval_out"
    if eval_out.is_dir() and any(eval_out.iterdir()) and not args.overwrite:
        raise S5InputError(f"{eval_out} exists and is not empty; remove it, choose another "
                           f"--submission_number, or pass --overwrite true")

    soundscapes = est_io.list_soundscapes(args.eval_soundscape_dir)
    index = est_io.index_sources(args.eval_estimate_dir, soundscapes, what="eval estimate")
    check_eval_wavs(args.eval_soundscape_dir, soundscapes, index)
    entries = eval_entries(args, soundscapes, index)
    dev_results = load_dev_results(args.dev_results, args.dev_soundscape_dir)
    eval_results = {"nparams": resolve_nparams(args, dev_results), "probabilities": entries,
                    "config": read_config(args.config_file)}
    meta = system_meta(args, name, eval_results["nparams"], dev_results)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=args.output_dir))
    try:
        build_package(stage, name, index, eval_results, args.dev_results, meta)
        publish(stage, name, args.output_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    n_wavs = sum(map(len, index.values()))
    log.info("%d eval soundscapes, %d estimates", len(soundscapes), n_wavs)
    print(f"Submission: {args.output_dir / name} and {args.output_dir / (name + '.zip')}")


if __name__ == "__main__":
    main()
