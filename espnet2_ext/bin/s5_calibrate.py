"""Fit calibrated slot decisions (per-class thresholds, empty-mixture rule) on the validation set.

    python -m espnet2_ext.bin.s5_calibrate --tagger_model exp/tag_blocks_4c/valid.loss.best.pth \
        --valid_data_dir data/valid --output exp/tag_blocks_4c/calibration_valid.loss.best.json \
        [--tagger_type 4c --m2d_weight_file W --tagger_config C] [--device auto] [--batch_size 8]

Runs the tagger on every mixture of ``valid_data_dir`` (``wav.scp`` + ``labels``), fits the
thresholds by maximising the mixture label accuracy (:mod:`espnet2_ext.s5.calibration`)
and writes the JSON that ``s5_inference --calibration`` applies. The file records what it
was fitted on (tagger digest, validation folder); when ``--output`` already holds a fit of
the same tagger and data it is kept, otherwise it is refitted.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import List, Tuple

import torch

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.fileio import read_wav, write_json
from espnet2_ext.identity import file_digest
from espnet2_ext.s5.calibration import fit_calibration, labels_to_indices
from espnet2_ext.s5.official import DEFAULT_TAGGER_TYPE, M2D_WEIGHT_PATH, N_CHANNELS, SAMPLE_RATE


def read_table(path: Path) -> dict:
    """Kaldi-style ``<id> <value ...>`` lines -> {id: [values]}."""
    if not path.is_file():
        raise S5InputError(f"{path} not found: give a data dir made by stage 3 (wav.scp, labels)")
    rows = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {r[0]: r[1:] for r in rows}


def validation_logits(tagger: torch.nn.Module, data_dir: Path, device: torch.device,
                      batch_size: int) -> Tuple[torch.Tensor, List[List[str]]]:
    """Tagger logits [N, 3, 19] and reference labels [N][3] of every mixture of ``data_dir``."""
    wavs, labels = read_table(data_dir / "wav.scp"), read_table(data_dir / "labels")
    names = sorted(wavs)
    missing = [n for n in names if n not in labels]
    if missing:
        raise S5InputError(f"{data_dir}/labels has no line for {missing[:3]}")
    out = []
    tagger = tagger.to(device).eval()
    with torch.inference_mode():
        for start in range(0, len(names), batch_size):
            batch = names[start:start + batch_size]
            mix = torch.stack([torch.from_numpy(read_wav(wavs[n][0], SAMPLE_RATE, N_CHANNELS, what="soundscape")[0])
                               for n in batch]).to(device)
            out.append(tagger(mix).float().cpu())
    return torch.cat(out), [labels[n] for n in names]


def fitted_on(args: argparse.Namespace) -> dict:
    return {"tagger_model": file_digest(args.tagger_model), "valid_data_dir": str(args.valid_data_dir.resolve()),
            "labels": file_digest(args.valid_data_dir / "labels")}


def run(args: argparse.Namespace) -> None:
    from espnet2_ext.bin.s5_inference import pick_device
    from espnet2_ext.s5.model_files import load_tagger

    if not args.tagger_model.is_file():
        raise S5InputError(f"--tagger_model {args.tagger_model}: file not found")
    source = fitted_on(args)
    if args.output.is_file():
        try:
            if json.loads(args.output.read_text()).get("fitted_on") == source:
                logging.info("%s already fitted on this tagger and data: kept", args.output)
                return
        except ValueError:
            pass
        logging.info("%s was fitted on another tagger or data: refitting", args.output)
    tagger = load_tagger(args.tagger_model, args.tagger_type, args.m2d_weight_file, args.tagger_config)
    logits, labels = validation_logits(tagger, args.valid_data_dir, pick_device(args.device), args.batch_size)
    cal = fit_calibration(logits, labels_to_indices(labels), info={"fitted_on": source})
    write_json(args.output, cal.to_json())
    acc = cal.info["valid_accuracy_mix"]
    logging.info("%s: %d mixtures, mixture accuracy argmax %.2f %% -> calibrated %.2f %% (min_probability %.3f)",
                 args.output, len(labels), acc["argmax"], acc["calibrated"], cal.min_probability)


def get_parser() -> argparse.ArgumentParser:
    from espnet2_ext.bin.s5_inference import tagger_type_arg

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tagger_model", type=Path, required=True, help="official .ckpt or our espnet2 model file")
    p.add_argument("--valid_data_dir", type=Path, required=True, help="stage-3 data dir (wav.scp, labels)")
    p.add_argument("--output", type=Path, required=True, help="calibration JSON to write")
    p.add_argument("--tagger_type", type=tagger_type_arg, default=DEFAULT_TAGGER_TYPE)
    p.add_argument("--m2d_weight_file", type=Path, default=Path(M2D_WEIGHT_PATH))
    p.add_argument("--tagger_config", type=Path, default=None)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--batch_size", type=int, default=8)
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    run(get_parser().parse_args(cmd))


if __name__ == "__main__":
    main()
