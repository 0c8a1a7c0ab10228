"""A tiny corpus in the official layout (8 kHz, short RIRs) for the synthesizer tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from espnet2_ext.synth.sofa import write_sofa

SR = 8000
RIR_LEN = 1200            # 150 ms: longer than the +50 ms direct window
N_POSITIONS = 12          # every 30 degrees on a horizontal circle
CLASSES = ("Cough", "Dishes", "Speech")
INTERFERENCE = ("Wind", "Zipper")


def make_rirs(rng: np.random.Generator, n_pos: int = N_POSITIONS, n_chan: int = 4,
              length: int = RIR_LEN) -> np.ndarray:
    """[M, R, N] decaying-noise RIRs with a clear direct peak (position 0 peaks at sample 5)."""
    irs = rng.standard_normal((n_pos, n_chan, length)) * np.exp(-np.arange(length) / 150.0) * 0.05
    for m in range(n_pos):
        irs[m, :, 5 + 40 * m % 300] += rng.uniform(0.5, 1.0, n_chan)
    return irs


def circle_positions(n: int = N_POSITIONS, radius: float = 1.5) -> np.ndarray:
    az = np.deg2rad(np.arange(n) * 360.0 / n)
    return np.stack([radius * np.cos(az), radius * np.sin(az), np.zeros(n)], axis=1)


def write_clip(path: Path, rng: np.random.Generator, seconds: float, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * SR)
    x = rng.standard_normal((n, channels)) * 0.2 * np.sin(np.linspace(0, 20, n))[:, None]
    sf.write(str(path), x.astype(np.float32), SR, subtype="PCM_16")


def build_corpus(root: Path, seed: int = 0) -> Path:
    """root/dev_set/{sound_event,interference,noise,room_ir}/{train,valid}; returns root."""
    rng = np.random.default_rng(seed)
    dev = root / "dev_set"
    for split in ("train", "valid"):
        for c in CLASSES:
            for k in range(3):
                write_clip(dev / "sound_event" / split / c / f"sub{k}" / f"{c}_{k}.wav", rng,
                           rng.uniform(0.3, 1.6))
            write_clip(dev / "sound_event" / split / c / f"{c}_loose.wav", rng, 2.5)  # > max_event_dur
        for c in INTERFERENCE:
            for k in range(2):
                write_clip(dev / "interference" / split / c / f"{c}_{k}.wav", rng, rng.uniform(0.3, 1.2))
        write_clip(dev / "noise" / split / "bg_short.wav", rng, 1.2, channels=4)
        write_clip(dev / "noise" / split / "bg_long.wav", rng, 3.5, channels=4)
        (dev / "room_ir" / split).mkdir(parents=True)
        write_sofa(dev / "room_ir" / split / "room_a.sofa", make_rirs(rng), SR, circle_positions())
    return root


def scene_config(split: str = "train", duration: float = 2.0) -> dict:
    from espnet2_ext.synth.scene import make_scene_config

    d = "data/dev_set"
    return make_scene_config(duration=duration, sr=SR, max_event_overlap=3, max_event_dur=duration,
                             ref_db=-55, foreground_dir=f"{d}/sound_event/{split}",
                             background_dir=f"{d}/noise/{split}",
                             interference_dir=f"{d}/interference/{split}", room_dir=f"{d}/room_ir/{split}")

