"""A small fake Semantic Hearing + EARS tree that exercises every stage-2 filter."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np

from espnet2_ext.corpus.layout import INTERFERENCE_CLASSES
from espnet2_ext.corpus.mini.config import item_rng
from espnet2_ext.corpus.mini.sounds import Timbre, band_noise, synth_sound
from espnet2_ext.fileio import write_pcm16
from espnet2_ext.s5.official import EARS_SAMPLE_RATE, FSD50K_SAMPLE_RATE, SAMPLE_RATE

LOW_RATE = SAMPLE_RATE // 2     # a clip below the official rate (resampled up)


# Files of the fake external tree that the add_data filters must reject, by reason.
REJECTED_FAKES = {
    "low_amplitude": "remove_low_amplitude",
    "too_short": "remove_too_short",
    "short_after_trim": "remove_too_short_after_trim",
    "silent_window": "remove_contain_low_amplitude_segment",
}


def fake_external_clip(kind: str, rng: np.random.Generator, sr: int) -> np.ndarray:
    """A clip of a given kind: 'good', 'lead_zeros' (kept after trimming) or a rejected one."""
    tone = Timbre(tones=(float(rng.uniform(300, 1500)),), harmonics=3)
    if kind == "good":   # no exact zeros at the ends: kept untrimmed
        return synth_sound(tone, int(0.8 * sr), rng, sr=sr) + 0.003
    if kind == "lead_zeros":
        return np.concatenate([np.zeros(sr // 4), synth_sound(tone, int(0.6 * sr), rng, sr=sr),
                               np.zeros(sr // 8)])
    if kind == "low_amplitude":
        x = synth_sound(tone, int(0.8 * sr), rng, sr=sr)
        return x * 0.01 / np.max(np.abs(x))
    if kind == "too_short":
        return synth_sound(tone, int(0.05 * sr), rng, sr=sr)
    if kind == "short_after_trim":
        return np.concatenate([np.zeros(sr // 2), synth_sound(tone, int(0.05 * sr), rng, sr=sr),
                               np.zeros(sr // 2)])
    if kind == "silent_window":   # 10.6 s: 0.3 s loud, then quiet (peak 0.005)
        x = 0.005 * band_noise(rng, int(10.6 * sr), sr, 100.0, 0.45 * sr) / 4.0
        x[: int(0.3 * sr)] = synth_sound(tone, int(0.3 * sr), rng, sr=sr)
        return np.clip(x, -1, 1)
    raise ValueError(kind)


def write_external_tree(root: Path, seed: int) -> Tuple[List[dict], List[dict]]:
    """Write a small fake Semantic Hearing + EARS tree; return the (FSD50K, EARS) pick-up rows.

    ``root/BinauralCuratedDataset/bg_scaper_fmt/{train,val}/<94 classes>/`` (a few hold files,
    the rest are empty as placeholders), ``.../FSD50K/clips/*.wav`` and ``root/EARS/pXXX/*.wav``.
    Each filter rejection reason occurs at least once (see :data:`REJECTED_FAKES`).
    """
    semhear = root / "BinauralCuratedDataset"
    bg = semhear / "bg_scaper_fmt"
    for split in ("train", "val"):
        for cls in INTERFERENCE_CLASSES:
            (bg / split / cls).mkdir(parents=True, exist_ok=True)
    plan = [  # (split, class, kind, sample rate)
        ("train", "Bus", "good", FSD50K_SAMPLE_RATE), ("train", "Bus", "lead_zeros", SAMPLE_RATE),
        ("train", "Drip", "good", SAMPLE_RATE), ("train", "Drip", "low_amplitude", SAMPLE_RATE),
        ("train", "Drip", "too_short", SAMPLE_RATE),
        ("val", "Bus", "good", LOW_RATE), ("val", "Drip", "short_after_trim", SAMPLE_RATE),
        ("val", "Drip", "silent_window", LOW_RATE),
    ]
    for split, cls, kind, sr in plan:
        name = f"{cls.lower()}_{split}_{kind}"
        write_pcm16(bg / split / cls / f"{name}.wav",
                    fake_external_clip(kind, item_rng(seed, "ext", name), sr), sr)

    fsd_rows = []
    for i, (label, kind) in enumerate([("Dishes", "good"), ("Doorbell", "lead_zeros"),
                                       ("Typing", "low_amplitude")]):
        rel = f"clips/{100001 + i}.wav"
        write_pcm16(semhear / "FSD50K" / rel,
                    fake_external_clip(kind, item_rng(seed, "fsd", rel), FSD50K_SAMPLE_RATE), FSD50K_SAMPLE_RATE)
        fsd_rows.append({"file_name": rel, "t4_label": label,
                         "convert_path": f"train/{label}/FSD50K_{100001 + i}/{100001 + i}.wav"})
    ears_rows = []
    for spk, utt, kind in [("p001", "emo_neutral_freeform", "good"),
                           ("p002", "emo_neutral_freeform", "good"),
                           ("p003", "emo_neutral_freeform", "good"),
                           ("p003", "nonverbal_cough", "too_short")]:
        rel = f"{spk}/{utt}.wav"
        write_pcm16(root / "EARS" / rel,
                    fake_external_clip(kind, item_rng(seed, "ears", rel), EARS_SAMPLE_RATE), EARS_SAMPLE_RATE)
        ears_rows.append({"file_name": rel, "t4_label": "Speech",
                          "convert_path": f"train/Speech/EARS_{spk}/{utt}.wav"})
    return fsd_rows, ears_rows
