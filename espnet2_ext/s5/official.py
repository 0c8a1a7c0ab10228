"""Every official DCASE2026 Task 4 (S5) format, defined once.

Audio
    mixtures (soundscapes): ``SAMPLE_RATE`` Hz, ``N_CHANNELS`` channels (FOA-like 4-mic array);
    sources (estimates, oracle targets, sound events): mono, ``SAMPLE_RATE`` Hz; the external
    data of stage 2 as released: FSD50K (Semantic Hearing) ``FSD50K_SAMPLE_RATE``, EARS
    ``EARS_SAMPLE_RATE`` (resampled to ``SAMPLE_RATE``); every other rate in the package is
    one of these or derived from them.
Labels
    ``CLASSES`` (18 target classes), ``SILENCE`` for an empty slot, ``N_SLOTS`` slots per mixture.
Taggers
    ``TAGGER_VARIANTS`` ('1c' = channel 0 only, '4c' = all channels), registered as
    ``m2d_at_<variant>`` (:func:`tagger_type`); ``DEFAULT_TAGGER_VARIANT`` everywhere.
M2D weights
    the nttcslab/m2d v0.3.0 release folder ``M2D_FOLDER`` holding ``M2D_WEIGHTS``; the recipe
    keeps it under ``checkpoint/`` (:data:`M2D_WEIGHT_PATH`, relative to ``egs2/dcase26t4/s5``).
Per-source file names (spec §4.3)
    ``<soundscape>_<i>_<Label>.wav`` (2026, ``i`` = 0-based slot) or ``<soundscape>_<Label>.wav``
    (2025); matched like the official loader with ``^<soundscape>(?:_(\\d+))?_(.+)\\.wav$``.
Data dirs (stage 3)
    ``wav.scp``, ``labels``, ``spk1.scp`` .. ``spkN.scp``, ``soundscape_dir``, ``oracle_target_dir``.

This module imports nothing heavy, so shell scripts can ask it for a default:
``python -m espnet2_ext.s5.official m2d_weight_path``.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import List, Optional, Pattern, Tuple

# --------------------------------------------------------------------------- audio
SAMPLE_RATE = 32000        # Hz, every official file
N_CHANNELS = 4             # channels of a mixture (soundscape)
SOURCE_CHANNELS = 1        # channels of a per-source file (estimate, oracle target, event)
FSD50K_SAMPLE_RATE = 44100  # Hz, FSD50K clips of the Semantic Hearing data (stage 2 input)
EARS_SAMPLE_RATE = 48000    # Hz, EARS speech (stage 2 input)

# --------------------------------------------------------------------------- labels
CLASSES: List[str] = [
    "AlarmClock", "BicycleBell", "Blender", "Buzzer", "Clapping", "Cough",
    "CupboardOpenClose", "Dishes", "Doorbell", "FootSteps", "HairDryer",
    "MechanicalFans", "MusicalKeyboard", "Percussion", "Pour", "Speech",
    "Typing", "VacuumCleaner",
]
SILENCE = "silence"
N_SLOTS = 3

# --------------------------------------------------------------------------- taggers
TAGGER_VARIANTS: Tuple[str, ...] = ("1c", "4c")
DEFAULT_TAGGER_VARIANT = "4c"
TAGGER_PREFIX = "m2d_at_"


def tagger_type(variant: str) -> str:
    """'4c' -> 'm2d_at_4c' (the espnet2 ``--tagger`` name and ``--tagger_type`` value)."""
    return f"{TAGGER_PREFIX}{variant}"


TAGGER_TYPES: Tuple[str, ...] = tuple(tagger_type(v) for v in TAGGER_VARIANTS)
DEFAULT_TAGGER_TYPE = tagger_type(DEFAULT_TAGGER_VARIANT)


def tagger_variant(name: str) -> Optional[str]:
    """'1c', '4c', 'm2d_at_1c', 'M2D_AT_4C' -> '1c' / '4c'; None for anything else."""
    key = name.lower()
    key = key[len(TAGGER_PREFIX):] if key.startswith(TAGGER_PREFIX) else key
    return key if key in TAGGER_VARIANTS else None


# --------------------------------------------------------------------------- M2D weights
M2D_FOLDER = "m2d_as_vit_base-80x1001p16x16p32k-240413_AS-FT_enconly"
M2D_WEIGHTS = "weights_ep69it3124-0.47998.pth"
CHECKPOINT_DIR = "checkpoint"


def m2d_weight_path(checkpoint_dir: str = CHECKPOINT_DIR) -> str:
    """``<checkpoint_dir>/<M2D_FOLDER>/<M2D_WEIGHTS>`` (a string, relative if the folder is)."""
    return f"{checkpoint_dir}/{M2D_FOLDER}/{M2D_WEIGHTS}"


M2D_WEIGHT_PATH = m2d_weight_path()
#: input rates of the M2D releases, keyed by their folder-name token (``p16k`` / ``p32k``)
M2D_SAMPLE_RATES = {"16k": 16000, "32k": SAMPLE_RATE}

# --------------------------------------------------------------------------- per-source files
SOURCE_NAME_FORMS = "<soundscape>_<i>_<Label>.wav (or <soundscape>_<Label>.wav)"


def source_filename(soundscape: str, slot: int, label: str) -> str:
    """Official 2026 name of one source of ``soundscape``: ``<soundscape>_<slot>_<Label>.wav``."""
    return f"{soundscape}_{slot}_{label}.wav"


@lru_cache(maxsize=4096)
def source_pattern(soundscape: str) -> Pattern[str]:
    """The official loader's regex for the sources of ``soundscape``: groups (slot, label).

    Use it with ``fullmatch`` (its ``^...$`` form would accept a name ending in a newline)."""
    return re.compile(rf"{re.escape(soundscape)}(?:_(\d+))?_(.+)\.wav")


def parse_source_filename(filename: str, soundscape: str) -> Optional[Tuple[Optional[int], str]]:
    """(slot index or None, label as written) if ``filename`` is a source of ``soundscape``, else None."""
    match = source_pattern(soundscape).fullmatch(filename)
    if match is None:
        return None
    return (int(match.group(1)) if match.group(1) is not None else None), match.group(2)


# --------------------------------------------------------------------------- data dirs
WAV_SCP = "wav.scp"
UTT2SPK = "utt2spk"
SPK2UTT = "spk2utt"
LABELS_FILE = "labels"
SOUNDSCAPE_DIR_FILE = "soundscape_dir"
ORACLE_TARGET_DIR_FILE = "oracle_target_dir"
ESTIMATES_JSON = "estimates.json"


def spk_scp(k: int) -> str:
    """Data-dir file of the ``k``-th (1-based) reference source: ``spk<k>.scp``."""
    return f"spk{k}.scp"


_SHELL_VALUES = {
    "sample_rate": lambda: str(SAMPLE_RATE),
    "n_channels": lambda: str(N_CHANNELS),
    "tagger_variants": lambda: " ".join(TAGGER_VARIANTS),
    "default_tagger_variant": lambda: DEFAULT_TAGGER_VARIANT,
    "m2d_weight_path": lambda: M2D_WEIGHT_PATH,
}


def main(argv: Optional[List[str]] = None) -> None:
    """Print one value for shell scripts: ``python -m espnet2_ext.s5.official <name>``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in _SHELL_VALUES:
        sys.exit(f"usage: python -m espnet2_ext.s5.official {{{'|'.join(_SHELL_VALUES)}}}")
    print(_SHELL_VALUES[args[0]]())


if __name__ == "__main__":
    main()
