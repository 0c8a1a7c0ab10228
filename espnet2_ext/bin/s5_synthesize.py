"""Stage 3: synthesize fixed mixtures and write Kaldi-style data dirs.

Subcommands:
  render      re-synthesize the scenes of a metadata list (valid.json) into
              OUT/soundscape/soundscape_XXXX.wav and OUT/oracle_target/soundscape_XXXX_<slot>_<Label>.wav
              (a contiguous share per job, espnet2_ext.jobs; finished mixtures are skipped).
  datadir     index a soundscape folder (+ optional oracle_target folder) into a data dir:
              wav.scp, labels, spk1..N.scp, soundscape_dir, oracle_target_dir.
  fixed_sets  build the fixed valid metadata / dev test / eval sets of a corpus (see fixed_sets.py).

Examples:
  python -m espnet2_ext.bin.s5_synthesize render --metadata_list data/dev_set/metadata/valid.json \\
      --corpus_root data --out_dir data/valid --job 1 --nj 4
  python -m espnet2_ext.bin.s5_synthesize datadir --soundscape_dir data/dev_set/synthesized/test/soundscape \\
      --oracle_target_dir data/dev_set/synthesized/test/oracle_target --out_dir data/test
"""
from __future__ import annotations

import argparse
import bisect
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.fileio import atomic_path
from espnet2_ext.jobs import check_job, job_share
from espnet2_ext.s5.labels import pad_labels
from espnet2_ext.s5.official import (CLASSES, LABELS_FILE, N_SLOTS, ORACLE_TARGET_DIR_FILE, SAMPLE_RATE, SILENCE,
                                     SOUNDSCAPE_DIR_FILE, SOURCE_NAME_FORMS, WAV_SCP, parse_source_filename, spk_scp)
from espnet2_ext.synth.fixed_sets import make_fixed_sets, write_mixture
from espnet2_ext.synth.scene import Scene, SceneRenderer, read_metadata_list

logger = logging.getLogger("s5_synthesize")


def render(metadata_list: Path, corpus_root: Path, out_dir: Path, job: int, nj: int,
           subtype: str = "PCM_16", dry_channel: int = 0) -> int:
    """Render this job's share of the metadata list; returns the number of mixtures written."""
    check_job(job, nj)
    files = read_metadata_list(metadata_list)
    renderer = SceneRenderer(corpus_root)
    done = 0
    mine = job_share(range(len(files)), job, nj)
    for i in tqdm(mine, desc=f"render job {job}/{nj}", mininterval=10):
        name = f"soundscape_{i:04d}"
        if (out_dir / "soundscape" / f"{name}.wav").is_file():
            continue   # the soundscape is written last: its presence means the item is complete
        scene = Scene.from_metadata(files[i])
        try:
            write_mixture(out_dir, name, scene, renderer, with_targets=True, subtype=subtype,
                          dry_channel=dry_channel)
        except S5InputError as e:   # a missing/bad source file: name the scene that uses it
            raise S5InputError(f"{e} (while rendering {files[i]})") from e
        done += 1
    logger.info("job %d/%d: %d mixtures written, %d already present", job, nj, done, len(mine) - done)
    return done


def oracle_slots(name: str, oracle_files: List[str]) -> List[str]:
    """Oracle file names of soundscape ``name`` (official regex, sorted) from a sorted list."""
    start = bisect.bisect_left(oracle_files, name)
    out = []
    for f in oracle_files[start:]:
        if not f.startswith(name):
            break
        parsed = parse_source_filename(f, name)
        if parsed is not None:
            out.append(f)
    return out


def write_datadir(soundscape_dir: Path, out_dir: Path, oracle_target_dir: Optional[Path] = None,
                  n_sources: int = N_SLOTS) -> int:
    """Write a Kaldi-style data dir for the soundscapes (see module docstring); returns their count."""
    wavs = sorted(soundscape_dir.glob("*.wav")) if soundscape_dir.is_dir() else []
    if not wavs:
        raise S5InputError(f"no soundscape .wav files in {soundscape_dir}")
    names = [w.stem for w in wavs]
    tables: Dict[str, List[str]] = {WAV_SCP: [f"{n} {os.path.abspath(w)}" for n, w in zip(names, wavs)]}
    if oracle_target_dir is not None:
        if not oracle_target_dir.is_dir():
            raise S5InputError(f"oracle target folder not found: {oracle_target_dir}")
        oracle = sorted(p.name for p in oracle_target_dir.glob("*.wav"))
        labels, spk = [], [[] for _ in range(n_sources)]
        for name in names:
            files = oracle_slots(name, oracle)
            slot_labels = [parse_source_filename(f, name)[1] for f in files]
            bad = [lab for lab in slot_labels if lab not in CLASSES]
            if bad or len(files) > n_sources:
                raise S5InputError(
                    f"oracle targets of {name} in {oracle_target_dir}: {files} (unknown labels {bad}, "
                    f"at most {n_sources} allowed); names must be {SOURCE_NAME_FORMS}")
            padded = pad_labels(slot_labels, n_sources)
            labels.append(f"{name} {' '.join(padded)}")
            for k in range(n_sources):
                path = os.path.abspath(oracle_target_dir / files[k]) if padded[k] != SILENCE else "-"
                spk[k].append(f"{name} {path}")
        tables[LABELS_FILE] = labels
        tables.update({spk_scp(k + 1): rows for k, rows in enumerate(spk)})
        tables[ORACLE_TARGET_DIR_FILE] = [os.path.abspath(oracle_target_dir)]
    tables[SOUNDSCAPE_DIR_FILE] = [os.path.abspath(soundscape_dir)]
    for fname, rows in tables.items():
        with atomic_path(out_dir / fname, suffix=".tmp") as tmp:
            tmp.write_text("".join(r + "\n" for r in rows))
    logger.info("%s: %d soundscapes%s", out_dir, len(names), " with oracle targets" if oracle_target_dir else "")
    return len(names)


def get_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="re-synthesize a metadata list (valid.json)")
    r.add_argument("--metadata_list", type=Path, required=True)
    r.add_argument("--corpus_root", type=Path, default=Path("data"),
                   help="folder that 'data/' in the metadata paths maps to (holds dev_set/)")
    r.add_argument("--out_dir", type=Path, required=True)
    r.add_argument("--job", type=int, default=1)
    r.add_argument("--nj", type=int, default=1)
    r.add_argument("--subtype", default="PCM_16", help="WAV subtype (PCM_16 like the official sets, or FLOAT)")
    r.add_argument("--dry_channel", type=int, default=0)
    d = sub.add_parser("datadir", help="index soundscapes (+ oracle targets) into a data dir")
    d.add_argument("--soundscape_dir", type=Path, required=True)
    d.add_argument("--oracle_target_dir", type=Path, default=None)
    d.add_argument("--out_dir", type=Path, required=True)
    d.add_argument("--n_sources", type=int, default=N_SLOTS)
    f = sub.add_parser("fixed_sets", help="build fixed valid/test/eval sets from a corpus's valid split")
    f.add_argument("--dev_root", type=Path, required=True)
    f.add_argument("--eval_root", type=Path, required=True)
    for key in ("n_valid", "n_test", "n_eval"):
        f.add_argument(f"--{key}", type=int, required=True)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--duration", type=float, default=10.0)
    f.add_argument("--sr", type=int, default=SAMPLE_RATE)
    return ap


@cli_main
def main(argv: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if args.command == "render":
        render(args.metadata_list, args.corpus_root, args.out_dir, args.job, args.nj, args.subtype,
               args.dry_channel)
    elif args.command == "datadir":
        write_datadir(args.soundscape_dir, args.out_dir, args.oracle_target_dir, args.n_sources)
    else:
        make_fixed_sets(args.dev_root, args.eval_root, args.n_valid, args.n_test, args.n_eval,
                        args.seed, args.duration, args.sr)


if __name__ == "__main__":
    main()
