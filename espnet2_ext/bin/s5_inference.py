"""Stage 7: run the S5 chain on a folder of soundscapes and write the estimates.

    python -m espnet2_ext.bin.s5_inference --soundscape_dir D --output_dir E \
        --tagger_ckpt T --separator_ckpt S [--tagger_type 4c] [--m2d_weight_file W] \
        [--oracle_target_dir O --oracle_labels true] [--device auto] [--batch_size 2] [--job 1 --nj 4]
        [--calibration exp/tag_blocks_4c/calibration_valid.loss.best.json]
        [--long_form true --window_s 10 --hop_s 5] [--precision fp32]

Writes ``E/<soundscape>_<i>_<Label>.wav`` (float32, 32 kHz, one per non-silent
slot, ``i`` = slot index after moving silence last) and ``E/estimates.json``
(per soundscape: filename, label, probability). Every file is written
atomically and each finished soundscape gets a record in ``E/records/``, so an
interrupted run resumes where it stopped; ``estimates.json`` is assembled from
the records once every soundscape is done (by the last job, or --merge_only),
and the hidden ``.*.part`` temporaries of killed jobs are then removed.

``--long_form true``: soundscapes of any length, decoded by windows of ``--window_s`` every
``--hop_s`` seconds (:mod:`espnet2_ext.s5.longform`); one file per track (``i`` = track index,
by onset), records and ``estimates.json`` with each track's onset and offset (s), and the DCASE
SED table ``E/events.tsv`` (filename, onset, offset, event_label, probability).

``--precision bf16``: an opt-in mode, the tagger and the U-Net under bfloat16 autocast
(:mod:`espnet2_ext.s5.pipeline`); the default fp32 is the official arithmetic.

Decoding goes through the Python API's object (:class:`espnet2_ext.s5.api.S5Separate`,
:meth:`~espnet2_ext.s5.api.S5Separate.decode`): the CLI and the API give the same outputs.

``E/identity.json`` records what the estimates come from (the digests of the model
files and their configs, the soundscape folder, oracle labels, and the digest of the
``--calibration`` file when one is given, the window and hop of ``--long_form``, and a
``--precision`` other than fp32): decoding into a folder
made with other models stops with an error instead of resuming (``--overwrite true``
empties it first). Run ``--claim_only true`` once before starting parallel jobs
(``local/decode.sh`` does), so that only one process ever empties the folder.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
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
from espnet2_ext.s5.api import MIN_SAMPLES, S5Separate, load_pipeline
from espnet2_ext.s5.calibration import Calibration
from espnet2_ext.s5.devices import DEVICE_CHOICES, PRECISIONS, pick_device
from espnet2_ext.s5.estimates import list_soundscapes, oracle_labels_of, oracle_target_files
from espnet2_ext.s5.longform import Track, check_hop, write_sed_table
from espnet2_ext.s5.model_files import tagger_type_arg
from espnet2_ext.s5.official import (DEFAULT_TAGGER_TYPE, ESTIMATES_JSON, M2D_WEIGHT_PATH, N_CHANNELS, N_SLOTS,
                                     SAMPLE_RATE, SOURCE_CHANNELS, TAGGER_TYPES, TAGGER_VARIANTS, source_filename)
from espnet2_ext.s5.pipeline import active_slots, needs_activity

str2bool = quiet_import("espnet2.utils.types").str2bool
EVENTS_TABLE = "events.tsv"      # --long_form true: the DCASE SED table of the folder


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


def write_record(out_dir: Path, name: str, sources: Sequence[Tuple[int, str, float, np.ndarray, dict]]) -> None:
    """Write the sources (index, label, probability, waveform [T], extra record keys) of one
    soundscape, then its record (the 'done' marker)."""
    record = []
    for i, label, prob, wav, extra in sources:
        fname = source_filename(name, i, label)
        write_wav(out_dir / fname, wav, SAMPLE_RATE, subtype="FLOAT")
        record.append({"filename": fname, "label": label, "probability": float(prob), **extra})
    write_json(out_dir / "records" / f"{name}.json", record)


def write_estimates(out_dir: Path, name: str, labels: Sequence[str], probs: Sequence[float],
                    waveform: torch.Tensor) -> None:
    """The non-silent slots of one soundscape (waveform [3, 1, T]), ``i`` = slot index."""
    write_record(out_dir, name, [(i, labels[i], probs[i], waveform[i, 0].float().cpu().numpy(), {})
                                 for i in active_slots(labels)])


def write_tracks(out_dir: Path, name: str, tracks: Sequence[Track]) -> None:
    """Long form: the tracks of one soundscape (by onset), ``i`` = track index, with onset and offset."""
    write_record(out_dir, name, [(i, t.label, t.probability, t.waveform, {"onset": t.onset, "offset": t.offset})
                                 for i, t in enumerate(tracks)])


def merge_records(out_dir: Path, names: Sequence[str], long_form: bool = False) -> bool:
    """Write estimates.json (and with ``long_form`` the SED table events.tsv) if every soundscape
    has a record; return whether it was written."""
    recs = out_dir / "records"
    if not all((recs / f"{n}.json").exists() for n in names):
        return False
    merged: Dict[str, list] = {n: json.loads((recs / f"{n}.json").read_text()) for n in names}
    if long_form:
        write_sed_table(out_dir / EVENTS_TABLE, [(f"{n}.wav", e["onset"], e["offset"], e["label"], e["probability"])
                                                 for n in names for e in merged[n]])
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


def build_separate(args: argparse.Namespace) -> S5Separate:
    """The models of ``args`` in the Python API's object (:class:`~espnet2_ext.s5.api.S5Separate`),
    on ``--device``: the CLI and the API decode through the same code."""
    device = pick_device(args.device)
    if not args.oracle_labels and args.tagger_ckpt is None:
        raise S5InputError("--tagger_ckpt is required unless --oracle_labels true")
    pipeline = load_pipeline(None if args.oracle_labels else args.tagger_ckpt, args.separator_ckpt,
                             tagger_type=args.tagger_type, m2d_weight_file=args.m2d_weight_file,
                             tagger_config=args.tagger_config, separator_config=args.separator_config,
                             calibration=args.calibration, names=("--tagger_ckpt", "--separator_ckpt"))
    return S5Separate.from_pipeline(pipeline, device, args.precision)


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
    if args.long_form:
        identity["long_form"] = {"window_s": args.window_s, "hop_s": args.hop_s}
    if args.precision != "fp32":        # absent for fp32: older folders keep their identity
        identity["precision"] = args.precision
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
    if args.long_form:
        if args.oracle_labels:
            raise S5InputError("--long_form true links the tagger's events across windows: it has no meaning "
                               "with --oracle_labels true")
        check_hop(args.window_s, args.hop_s)
    claim_folder(args.output_dir, "decode", decode_identity(args),
                 overwrite=args.overwrite and (args.claim_only or args.nj == 1),
                 way_out="in run.sh another --inference_tag; here another --output_dir",
                 has_results=lambda d: (d / "records").is_dir() or (d / "estimates.json").exists(),
                 write=write)


def decode_files(args: argparse.Namespace, model: S5Separate, todo: Sequence[str], frames: Dict[str, int]) -> None:
    """Decode the soundscapes ``todo`` in batches of equal length and write their estimates."""
    for batch in tqdm(equal_length_batches(todo, frames, args.batch_size), desc=f"decode job {args.job}",
                      unit="batch", mininterval=10):
        mix = torch.stack([torch.from_numpy(read_wav(args.soundscape_dir / f"{n}.wav", SAMPLE_RATE, N_CHANNELS,
                                                     what="soundscape")[0]) for n in batch])
        if args.oracle_labels:
            labels = [oracle_labels_of(args.oracle_target_dir, n) for n in batch]
            activity = (torch.stack([oracle_activity(args.oracle_target_dir, n, mix.shape[-1]) for n in batch])
                        if needs_activity(model.pipeline.separator) else None)
            wav = model.separate_labels(mix, labels, activity)
            probs = [[1.0] * len(lab) for lab in labels]
        else:
            out = model.decode(mix)
            labels, wav, probs = out.labels, out.waveform, out.probabilities.tolist()
        for b, n in enumerate(batch):
            write_estimates(args.output_dir, n, labels[b], probs[b], wav[b])


def decode_long_form_files(args: argparse.Namespace, model: S5Separate, todo: Sequence[str]) -> None:
    """Long form: decode each soundscape by windows and write its tracks."""
    for n in tqdm(todo, desc=f"decode job {args.job} (long form)", unit="file", mininterval=10):
        mix = torch.from_numpy(read_wav(args.soundscape_dir / f"{n}.wav", SAMPLE_RATE, N_CHANNELS,
                                        what="soundscape")[0])
        write_tracks(args.output_dir, n, model.decode_long(mix, args.window_s, args.hop_s, args.batch_size))


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
        if not merge_records(args.output_dir, names, args.long_form):
            missing = [n for n in names if not (args.output_dir / "records" / f"{n}.json").exists()]
            raise S5InputError(f"{len(missing)} soundscapes not decoded yet in {args.output_dir} "
                               f"(e.g. {missing[0]}); rerun the decoding jobs")
        return
    todo = [n for n in mine if not (args.output_dir / "records" / f"{n}.json").exists()]
    if args.oracle_labels and args.oracle_target_dir is None:
        raise S5InputError("--oracle_labels true needs --oracle_target_dir")
    logging.info("job %d/%d: %d soundscapes, %d already done", args.job, args.nj, len(mine), len(mine) - len(todo))
    if todo:
        model = build_separate(args)
        claim_output_dir(args)
        if args.long_form:
            decode_long_form_files(args, model, todo)
        else:
            decode_files(args, model, todo, frames)
        write_json(args.output_dir / "model_info.json", {   # for results.json / the submission / from_pretrained
            "nparams": model.num_parameters(),
            "tagger_ckpt": None if args.oracle_labels else str(args.tagger_ckpt),
            "separator_ckpt": str(args.separator_ckpt), "oracle_labels": args.oracle_labels,
            "calibration": str(args.calibration) if args.calibration is not None else None,
            "tagger_type": None if args.oracle_labels else args.tagger_type,
            "tagger_config": str(args.tagger_config) if args.tagger_config is not None else None,
            "separator_config": str(args.separator_config) if args.separator_config is not None else None,
            "m2d_weight_file": model.tagger_m2d_file()})
    merge_records(args.output_dir, names, args.long_form)


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
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32: the official arithmetic (default); bf16: opt-in bfloat16 autocast of the tagger "
                        "and the U-Net (faster on GPUs and AMX CPUs, slower on other CPUs; outputs within bf16 "
                        "rounding: docs/python_api.md)")
    p.add_argument("--batch_size", type=validate.positive_int, default=2)
    p.add_argument("--job", type=validate.positive_int, default=1, help="this job's number (1-based)")
    p.add_argument("--nj", type=validate.positive_int, default=1, help="number of jobs the folder is split into")
    p.add_argument("--merge_only", type=str2bool, default=False,
                   help="only assemble estimates.json from the finished jobs' records")
    p.add_argument("--claim_only", type=str2bool, default=False,
                   help="only check/record the output folder's identity (before parallel jobs)")
    p.add_argument("--long_form", type=str2bool, default=False,
                   help="decode soundscapes of any length by overlapping windows; write tracks with onset "
                        "and offset and the SED table events.tsv")
    p.add_argument("--window_s", type=validate.positive_float, default=10.0,
                   help="long form: window length in seconds (default %(default)s, the training length)")
    p.add_argument("--hop_s", type=validate.positive_float, default=5.0,
                   help="long form: window hop in seconds, at most --window_s (default %(default)s)")
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
