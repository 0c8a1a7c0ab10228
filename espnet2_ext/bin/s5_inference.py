"""Stage 7: run the S5 chain on a folder of soundscapes and write the estimates.

    python -m espnet2_ext.bin.s5_inference --soundscape_dir D --output_dir E \
        --tagger_ckpt T --separator_ckpt S [--tagger_type 4c] [--m2d_weight_file W] \
        [--oracle_target_dir O --oracle_labels true] [--device auto] [--batch_size 2] [--job 1 --nj 4]
        [--calibration exp/tag_blocks_4c/calibration_valid.loss.best.json]

Writes ``E/<soundscape>_<i>_<Label>.wav`` (float32, 32 kHz, one per non-silent
slot, ``i`` = slot index after moving silence last) and ``E/estimates.json``
(per soundscape: filename, label, probability). Every file is written
atomically and each finished soundscape gets a record in ``E/records/``, so an
interrupted run resumes where it stopped; ``estimates.json`` is assembled from
the records once every soundscape is done (by the last job, or --merge_only),
and the hidden ``.*.part`` temporaries of killed jobs are then removed.

``E/identity.json`` records what the estimates come from (the digests of the model
files and their configs, the soundscape folder, oracle labels, and the digest of the
``--calibration`` file when one is given): decoding into a folder
made with other models stops with an error instead of resuming (``--overwrite true``
empties it first). Run ``--claim_only true`` once before starting parallel jobs
(``local/decode.sh`` does), so that only one process ever empties the folder.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from tqdm import tqdm

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import check_wav, read_wav, write_json, write_wav
from espnet2_ext.identity import claim_folder, file_digest, model_identity
from espnet2_ext.jobs import job_share
from espnet2_ext.s5.activity import n_activity_frames, waveform_activity
from espnet2_ext.s5.calibration import Calibration
from espnet2_ext.s5.estimates import list_soundscapes, oracle_labels_of, oracle_target_files
from espnet2_ext.s5.official import (DEFAULT_TAGGER_TYPE, ESTIMATES_JSON, M2D_WEIGHT_PATH, N_CHANNELS, N_SLOTS,
                                     SAMPLE_RATE, SOURCE_CHANNELS, TAGGER_TYPES, TAGGER_VARIANTS, source_filename,
                                     tagger_type, tagger_variant)
from espnet2_ext.s5.pipeline import S5Pipeline, active_slots, check_pair, needs_activity

str2bool = quiet_import("espnet2.utils.types").str2bool


#: the shortest mixture both models take: the separator's centred STFT (n_fft 1024) reflects
#: 512 samples at each end, the M2D log-mel (n_fft 800) 400
MIN_SAMPLES = 1024 // 2 + 1


def check_soundscapes(soundscape_dir: Path, names: Sequence[str]) -> Dict[str, int]:
    """Fail before any compute (and before loading models) if a soundscape is unreadable,
    incomplete, not 4-ch 32 kHz or too short for the models; return {name: frames}."""
    frames = {}
    for n in names:
        path = soundscape_dir / f"{n}.wav"
        frames[n] = check_wav(path, SAMPLE_RATE, N_CHANNELS, what="soundscape",
                              hint="or remove it from the folder").frames
        if frames[n] < MIN_SAMPLES:
            raise S5InputError(f"soundscape {path} has {frames[n]} samples, fewer than the {MIN_SAMPLES} "
                               f"the models need (the separator's STFT window); remove it from the folder")
    return frames


def equal_length_batches(names: Sequence[str], frames: Dict[str, int], batch_size: int) -> List[List[str]]:
    """Consecutive batches of at most ``batch_size`` soundscapes of one length (a batch is one tensor)."""
    batches: List[List[str]] = []
    for n in names:
        if batches and len(batches[-1]) < batch_size and frames[batches[-1][0]] == frames[n]:
            batches[-1].append(n)
        else:
            batches.append([n])
    return batches


def write_estimates(out_dir: Path, name: str, labels: Sequence[str], probs: Sequence[float],
                    waveform: torch.Tensor) -> None:
    """Write the non-silent slots of one soundscape, then its record (the 'done' marker)."""
    record = []
    for i in active_slots(labels):
        fname = source_filename(name, i, labels[i])
        write_wav(out_dir / fname, waveform[i, 0].float().cpu().numpy(), SAMPLE_RATE, subtype="FLOAT")
        record.append({"filename": fname, "label": labels[i], "probability": float(probs[i])})
    write_json(out_dir / "records" / f"{name}.json", record)


def merge_records(out_dir: Path, names: Sequence[str]) -> bool:
    """Write estimates.json if every soundscape has a record; return whether it was written."""
    recs = out_dir / "records"
    if not all((recs / f"{n}.json").exists() for n in names):
        return False
    merged: Dict[str, list] = {n: json.loads((recs / f"{n}.json").read_text()) for n in names}
    write_json(out_dir / ESTIMATES_JSON, merged)
    # every soundscape is done, so no job is writing: drop temporaries left by killed jobs
    for stale in [*out_dir.glob(".*.part"), *recs.glob(".*.part")]:
        stale.unlink(missing_ok=True)
    return True


def oracle_activity(oracle_target_dir: Path, soundscape: str, n_samples: int) -> torch.Tensor:
    """Slot activity measured on the oracle targets of one soundscape (slot order of
    ``oracle_labels_of``): -> [N_SLOTS, ceil(n_samples / 640)] (silent slots zero)."""
    tracks = torch.zeros(N_SLOTS, n_activity_frames(n_samples))
    for i, path in enumerate(oracle_target_files(oracle_target_dir, soundscape)[:N_SLOTS]):
        ref = read_wav(path, SAMPLE_RATE, SOURCE_CHANNELS, what="oracle target")[0][..., :n_samples]
        padded = torch.zeros(1, n_samples)
        padded[:, :ref.shape[-1]] = torch.from_numpy(ref)
        tracks[i] = torch.from_numpy(waveform_activity(padded.numpy()[None]))[0]
    return tracks


def tagger_type_arg(text: str) -> str:
    """'4c' or 'm2d_at_4c' -> 'm2d_at_4c' (argparse type)."""
    variant = tagger_variant(text)
    if variant is None:
        raise argparse.ArgumentTypeError(f"unknown tagger variant {text!r}: use {' or '.join(TAGGER_VARIANTS)}")
    return tagger_type(variant)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise S5InputError("--device cuda requested but CUDA is not available here")
    return torch.device(name)


def build_pipeline(args: argparse.Namespace) -> S5Pipeline:
    from espnet2_ext.s5.model_files import load_separator, load_tagger

    tagger = None
    if not args.oracle_labels:
        if args.tagger_ckpt is None:
            raise S5InputError("--tagger_ckpt is required unless --oracle_labels true")
        tagger = load_tagger(args.tagger_ckpt, args.tagger_type, args.m2d_weight_file, args.tagger_config)
    separator = load_separator(args.separator_ckpt, args.separator_config)
    check_pair(tagger, separator, f"--tagger_ckpt {args.tagger_ckpt}", f"--separator_ckpt {args.separator_ckpt}")
    calibration = Calibration.from_file(args.calibration) if args.calibration is not None else None
    return S5Pipeline(tagger, separator, calibration)


def decode_identity(args: argparse.Namespace) -> dict:
    """What the estimates of ``args.output_dir`` depend on (see the module docstring)."""
    from espnet2_ext.s5.model_files import config_path

    def model(path: Path, config, **extra):
        return model_identity(path, config_path(path, config), extra.items())

    tagger = None
    if not args.oracle_labels and args.tagger_ckpt is not None:
        m2d = args.m2d_weight_file          # read only for official tagger checkpoints
        m2d = file_digest(m2d) if m2d is not None and m2d.is_file() else (str(m2d) if m2d else None)
        tagger = model(args.tagger_ckpt, args.tagger_config, tagger_type=args.tagger_type, m2d_weight_file=m2d)
    identity = {"soundscape_dir": str(args.soundscape_dir.resolve()), "oracle_labels": args.oracle_labels,
                "oracle_target_dir": str(args.oracle_target_dir.resolve()) if args.oracle_labels else None,
                "tagger": tagger, "separator": model(args.separator_ckpt, args.separator_config)}
    if args.calibration is not None:   # absent (not None) without one: older folders keep their identity
        identity["calibration"] = file_digest(args.calibration)
    return identity


def claim_output_dir(args: argparse.Namespace, write: bool = True) -> None:
    """Check (and with ``write``, record) the decode folder's identity before anything is written."""
    for flag, path in (("--separator_ckpt", args.separator_ckpt), ("--tagger_ckpt", args.tagger_ckpt)):
        if path is not None and not path.is_file():
            raise S5InputError(f"{flag} {path}: file not found")
    if args.calibration is not None:
        if args.oracle_labels:
            raise S5InputError("--calibration acts on the tagger's slots: it has no meaning with --oracle_labels true")
        Calibration.from_file(args.calibration)   # fail before anything is written
    claim_folder(args.output_dir, "decode", decode_identity(args),
                 overwrite=args.overwrite and (args.claim_only or args.nj == 1),
                 way_out="in run.sh another --inference_tag; here another --output_dir",
                 has_results=lambda d: (d / "records").is_dir() or (d / "estimates.json").exists(),
                 write=write)


def run(args: argparse.Namespace) -> None:
    names = list_soundscapes(args.soundscape_dir)
    mine = job_share(names, args.job, args.nj)
    frames = check_soundscapes(args.soundscape_dir, mine) if not (args.claim_only or args.merge_only) else {}
    # recorded once the models have loaded (bad models leave no trace), unless the folder is
    # to be emptied first (--overwrite), which must happen before the finished work is listed
    claim_output_dir(args, write=args.claim_only or (args.overwrite and args.nj == 1))
    if args.claim_only:
        return
    if args.merge_only:
        if not merge_records(args.output_dir, names):
            missing = [n for n in names if not (args.output_dir / "records" / f"{n}.json").exists()]
            raise S5InputError(f"{len(missing)} soundscapes not decoded yet in {args.output_dir} "
                               f"(e.g. {missing[0]}); rerun the decoding jobs")
        return
    todo = [n for n in mine if not (args.output_dir / "records" / f"{n}.json").exists()]
    if args.oracle_labels and args.oracle_target_dir is None:
        raise S5InputError("--oracle_labels true needs --oracle_target_dir")
    logging.info("job %d/%d: %d soundscapes, %d already done", args.job, args.nj, len(mine), len(mine) - len(todo))
    if todo:
        device = pick_device(args.device)
        pipe = build_pipeline(args).to(device)
        claim_output_dir(args)
        for batch in tqdm(equal_length_batches(todo, frames, args.batch_size), desc=f"decode job {args.job}",
                          unit="batch", mininterval=10):
            mix = torch.stack([torch.from_numpy(read_wav(args.soundscape_dir / f"{n}.wav", SAMPLE_RATE, N_CHANNELS,
                                                         what="soundscape")[0]) for n in batch]).to(device)
            if args.oracle_labels:
                labels = [oracle_labels_of(args.oracle_target_dir, n) for n in batch]
                activity = (torch.stack([oracle_activity(args.oracle_target_dir, n, mix.shape[-1]) for n in batch])
                            if needs_activity(pipe.separator) else None)
                wav = pipe.separate(mix, labels, activity)
                probs = [[1.0] * len(lab) for lab in labels]
            else:
                out = pipe(mix)
                labels, wav, probs = out.labels, out.waveform, out.probabilities.tolist()
            for b, n in enumerate(batch):
                write_estimates(args.output_dir, n, labels[b], probs[b], wav[b])
        write_json(args.output_dir / "model_info.json", {   # for results.json / the submission
            "nparams": sum(p.numel() for p in pipe.parameters()),
            "tagger_ckpt": None if args.oracle_labels else str(args.tagger_ckpt),
            "separator_ckpt": str(args.separator_ckpt), "oracle_labels": args.oracle_labels,
            "calibration": str(args.calibration) if args.calibration is not None else None})
    merge_records(args.output_dir, names)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--soundscape_dir", type=Path, required=True)
    p.add_argument("--output_dir", type=Path, required=True)
    p.add_argument("--tagger_ckpt", type=Path, default=None,
                   help="official m2dat_{1c,4c}.ckpt or our espnet2 model file")
    p.add_argument("--separator_ckpt", type=Path, required=True,
                   help="official resunetk.ckpt or our espnet2 model file")
    p.add_argument("--tagger_type", type=tagger_type_arg, default=DEFAULT_TAGGER_TYPE,
                   help=f"tagger variant of an official checkpoint: {' or '.join(TAGGER_VARIANTS)} "
                        f"(or {' / '.join(TAGGER_TYPES)}; default %(default)s)")
    p.add_argument("--m2d_weight_file", type=Path, default=Path(M2D_WEIGHT_PATH),
                   help="official M2D weight file (for an official tagger checkpoint; default: %(default)s)")
    p.add_argument("--tagger_config", type=Path, default=None, help="config.yaml of an espnet2 tagger")
    p.add_argument("--separator_config", type=Path, default=None, help="config.yaml of an espnet2 separator")
    p.add_argument("--calibration", type=Path, default=None,
                   help="calibrated slot decisions fitted by s5_calibrate (default: none = the baseline's argmax)")
    p.add_argument("--oracle_target_dir", type=Path, default=None)
    p.add_argument("--oracle_labels", type=str2bool, default=False,
                   help="query the separator with the reference labels (no tagger)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch_size", type=validate.positive_int, default=2)
    p.add_argument("--job", type=validate.positive_int, default=1, help="this job's number (1-based)")
    p.add_argument("--nj", type=validate.positive_int, default=1, help="number of jobs the folder is split into")
    p.add_argument("--merge_only", type=str2bool, default=False,
                   help="only assemble estimates.json from the finished jobs' records")
    p.add_argument("--claim_only", type=str2bool, default=False,
                   help="only check/record the output folder's identity (before parallel jobs)")
    p.add_argument("--overwrite", type=str2bool, default=False,
                   help="true: if --output_dir holds estimates of other models, delete them first "
                        "(acts with --claim_only true or a single job)")
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    args = get_parser().parse_args(cmd)
    check_output_dir(args.output_dir, "--output_dir")
    run(args)


if __name__ == "__main__":
    main()
