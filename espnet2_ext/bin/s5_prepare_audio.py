"""Convert your own recordings into the recipe's mixture format (4 channels, 32 kHz WAV) with SoX.

    python -m espnet2_ext.bin.s5_prepare_audio in.flac out.wav
    python -m espnet2_ext.bin.s5_prepare_audio recordings/ soundscapes/ [--encoding pcm16]
    python -m espnet2_ext.bin.s5_prepare_audio mono.wav out.wav --upmix repeat
    python -m espnet2_ext.bin.s5_prepare_audio fuma.wav out.wav --select 1,3,4,2

Any rate, bit depth and file type SoX reads; 4-channel files are taken as first-order
Ambisonics in the order of the training rooms (see espnet2_ext/prepare_audio.py). Other
channel counts stop with an ERROR unless --upmix or --select says how to map them.
Then decode the folder: python -m espnet2_ext.bin.s5_inference --soundscape_dir soundscapes/ ...
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional, Sequence

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir, check_output_file
from espnet2_ext.prepare_audio import ENCODINGS, UPMIX_CHOICES, describe, prepare


def channel_list(text: str) -> List[int]:
    """'1,3,4,2' -> [1, 3, 4, 2]."""
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected 1-based channel numbers like 1,3,4,2, got {text!r}") from e


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", type=Path, nargs="+", help="audio files and/or folders of audio files")
    p.add_argument("output", type=Path, help="output .wav (one input file) or folder")
    p.add_argument("--upmix", choices=UPMIX_CHOICES, default="refuse",
                   help="mono/stereo input: repeat the channels, or pad with silent ones (default: refuse)")
    p.add_argument("--select", type=channel_list, default=None,
                   help="input channels (1-based) in output order, e.g. 1,3,4,2 (FuMa -> ACN)")
    p.add_argument("--encoding", choices=sorted(ENCODINGS), default="float",
                   help="float: 32-bit float WAV (no clipping); pcm16: 16-bit PCM like the official sets")
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    args = get_parser().parse_args(argv)
    (check_output_dir if len(args.inputs) > 1 or args.output.is_dir() else check_output_file)(args.output, "output")
    if args.select is not None and args.upmix != "refuse":
        raise S5InputError("give either --select or --upmix, not both")
    for path in prepare(args.inputs, args.output, upmix=args.upmix, select=args.select,
                        encoding=args.encoding):
        logging.info("wrote %s", describe(path))


if __name__ == "__main__":
    main()
