"""Fit calibrated slot decisions (per-class thresholds, empty-mixture rule) on the validation set.

    python -m espnet2_ext.bin.s5_calibrate --tagger_model exp/tag_blocks_4c/valid.loss.best.pth \
        --valid_data_dir data/valid --output exp/tag_blocks_4c/calibration_valid.loss.best.json \
        [--objective accuracy | --objective capi_sdri --separator_model exp/sep_resunetk/valid.loss.best.pth]
        [--tagger_type 4c --m2d_weight_file W --tagger_config C --separator_config C] [--device auto]

Runs the tagger on every mixture of ``valid_data_dir`` (stage 3: ``wav.scp``, ``labels``,
``spk<k>.scp``) and fits the thresholds (:mod:`espnet2_ext.s5.calibration`) maximising the
mixture label accuracy (default) or CAPI-SDRi. CAPI-SDRi runs the separator on each
validation mixture under each of the 7 non-empty slot masks (7 separator passes a mixture),
so the fit sees exactly what decoding with it would output. The JSON that
``s5_inference --calibration`` applies records what it was fitted on (objective, tagger and
separator digests, validation folder); when ``--output`` already holds a fit of the same
inputs it is kept, otherwise it is refitted.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from tqdm import tqdm

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.fileio import write_json
from espnet2_ext.output_paths import check_output_file
from espnet2_ext.identity import file_digest
from espnet2_ext.s5.calibration import (OBJECTIVES, TABLE_KEYS, accuracy_table, capi_sdri_table, fit_calibration,
                                        labels_to_indices, slot_candidates)
from espnet2_ext.s5.official import DEFAULT_TAGGER_TYPE, LABELS_FILE, M2D_WEIGHT_PATH
from espnet2_ext.s5.activity import slot_tracks
from espnet2_ext.s5.devices import DEVICE_CHOICES, pick_device
from espnet2_ext.s5.pipeline import S5Pipeline, needs_activity
from espnet2_ext.synth.dataset import DataDirDataset


def validation_tables(tagger: torch.nn.Module, separator: Optional[torch.nn.Module], data_dir: Path,
                      device: torch.device, batch_size: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Tagger logits [N, 3, 19] of every mixture of ``data_dir`` and the score tables [N, 8]:
    ``accuracy`` always, ``capi_sdri`` when a separator is given."""
    data = DataDirDataset(data_dir, return_source=separator is not None)
    if data.labels is None:
        raise S5InputError(f"{data_dir / LABELS_FILE} not found: give a data dir made by stage 3 (wav.scp, labels)")
    tagger = tagger.to(device).eval()
    pipeline = S5Pipeline(tagger, separator.to(device)) if separator is not None else None
    frames = pipeline is not None and needs_activity(separator)   # Time-FiLM: queried with the SED tracks
    logits, refs, capi = [], [], []
    with torch.inference_mode():
        for start in tqdm(range(0, len(data), batch_size), desc="calibration", unit="batch", leave=False):
            items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
            mix = torch.stack([it["mixture"] for it in items]).to(device)
            batch, probs = tagger.forward_frames(mix) if frames else (tagger(mix), None)
            batch = batch.float().cpu()
            logits.append(batch)
            refs += [it["labels"] for it in items]
            if pipeline is None:
                continue
            for n, (it, c) in enumerate(zip(items, slot_candidates(batch)[0])):
                separate = pipeline.separate
                if frames:
                    track = torch.sigmoid(probs[n:n + 1])
                    separate = (lambda m, labels, track=track:   # noqa: E731
                                pipeline.separate(m, labels, slot_tracks(track.expand(len(labels), -1, -1), labels)))
                capi.append(capi_sdri_table(separate, it["mixture"].to(device), c, it["labels"], it["dry_sources"]))
    logits_all = torch.cat(logits)
    tables = {"accuracy": accuracy_table(slot_candidates(logits_all)[0], labels_to_indices(refs))}
    if capi:
        tables["capi_sdri"] = torch.stack(capi)
    return logits_all, tables


def fitted_on(args: argparse.Namespace) -> dict:
    source = {"objective": args.objective, "tagger_model": file_digest(args.tagger_model),
              "valid_data_dir": str(args.valid_data_dir.resolve()),
              "labels": file_digest(args.valid_data_dir / LABELS_FILE)}
    if args.objective == "capi_sdri":
        source["separator_model"] = file_digest(args.separator_model)
    return source


def run(args: argparse.Namespace) -> None:
    from espnet2_ext.s5.model_files import load_separator, load_tagger

    for flag, path in (("--tagger_model", args.tagger_model), ("--separator_model", args.separator_model)):
        if path is not None and not path.is_file():
            raise S5InputError(f"{flag} {path}: file not found")
    if args.objective == "capi_sdri" and args.separator_model is None:
        raise S5InputError("--objective capi_sdri runs the separator: also give --separator_model")
    if not (args.valid_data_dir / LABELS_FILE).is_file():
        raise S5InputError(f"{args.valid_data_dir / LABELS_FILE} not found: give a data dir made by stage 3")
    check_output_file(args.output, "--output")
    source = fitted_on(args)
    if args.output.is_file():
        try:
            if json.loads(args.output.read_text()).get("fitted_on") == source:
                logging.info("%s already fitted on this tagger and data: kept", args.output)
                return
        except ValueError:
            pass
        logging.info("%s was fitted on other models or data: refitting", args.output)
    tagger = load_tagger(args.tagger_model, args.tagger_type, args.m2d_weight_file, args.tagger_config)
    separator = (load_separator(args.separator_model, args.separator_config)
                 if args.objective == "capi_sdri" else None)
    logits, tables = validation_tables(tagger, separator, args.valid_data_dir, pick_device(args.device),
                                       args.batch_size)
    cal = fit_calibration(logits, tables, objective=args.objective, info={"fitted_on": source})
    write_json(args.output, cal.to_json())
    for name, key in TABLE_KEYS.items():
        if key in cal.info:
            logging.info("%s: %d mixtures, %s argmax %.2f -> calibrated %.2f (objective %s, min_probability %.3f)",
                         args.output, logits.shape[0], "mixture accuracy %" if name == "accuracy" else "CAPI-SDRi dB",
                         cal.info[key]["argmax"], cal.info[key]["calibrated"], args.objective, cal.min_probability)


def get_parser() -> argparse.ArgumentParser:
    from espnet2_ext.s5.model_files import tagger_type_arg

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tagger_model", type=Path, required=True, help="official .ckpt or our espnet2 model file")
    p.add_argument("--valid_data_dir", type=Path, required=True, help="stage-3 data dir (wav.scp, labels)")
    p.add_argument("--output", type=Path, required=True, help="calibration JSON to write")
    p.add_argument("--tagger_type", type=tagger_type_arg, default=DEFAULT_TAGGER_TYPE)
    p.add_argument("--m2d_weight_file", type=Path, default=Path(M2D_WEIGHT_PATH))
    p.add_argument("--tagger_config", type=Path, default=None)
    p.add_argument("--objective", choices=OBJECTIVES, default="accuracy",
                   help="what the fit maximises: mixture label accuracy, or CAPI-SDRi (needs --separator_model)")
    p.add_argument("--separator_model", type=Path, default=None, help="separator for --objective capi_sdri")
    p.add_argument("--separator_config", type=Path, default=None)
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--batch_size", type=validate.positive_int, default=8)
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    run(get_parser().parse_args(cmd))


if __name__ == "__main__":
    main()
