"""A small synthetic corpus in the exact official layout (for CI and newcomers).

:func:`build_mini_corpus` writes, under ``outdir``::

    dev_set/      config, metadata/valid*, noise, room_ir, sound_event, interference,
                  synthesized/test/{soundscape,oracle_target}
    eval_set/     synthesized/eval/soundscape/eval_XXXX.wav
    checkpoint/   <official M2D folder>/weights_ep69it3124-0.47998.pth (a tiny fabricated ViT)
    external/     BinauralCuratedDataset/{bg_scaper_fmt,FSD50K}, EARS/p001... (for stage 2)
    mini_corpus.json   build stamp (the configuration); written last

Everything is drawn from ``numpy`` generators seeded by (seed, item name), so a seed gives
byte-identical files. The sounds are made to be *learnable*: each of the 18 classes has its
own recipe (tone frequencies, harmonics, noise band, amplitude modulation, click pattern);
sub-folders ("recordings") shift the pitch, files vary in length and gain.

Rooms are 4-channel FOA-like impulse responses: pyroomacoustics image sources for a small
tetrahedral (A-format) array, converted to B-format (W, Y, Z, X), plus an exponentially
decaying late tail up to the requested length; positions lie on two rings around the array.
Noise is 4-channel pink-ish noise written as plain 16-bit PCM (format tag 1).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet2_ext.corpus.layout import INTERFERENCE_CLASSES, SPLITS
from espnet2_ext.fileio import atomic_path, write_json
from espnet2_ext.s5.official import CLASSES, M2D_FOLDER, M2D_WEIGHTS, N_CHANNELS
from espnet2_ext.s5.official import SAMPLE_RATE as SR

log = logging.getLogger(__name__)

STAMP = "mini_corpus.json"
STAMP_VERSION = 1


# --------------------------------------------------------------------------- configuration
@dataclass
class MiniCorpusConfig:
    """Sizes of the mini corpus. The defaults build in well under a minute on 2 cores."""

    seed: int = 0
    realistic: bool = False            # long RIRs (174,763 taps) and clips up to 12 s
    subfolders_per_class: int = 3      # >= 3: same-class triples need 3 "recordings"
    files_per_subfolder: Tuple[int, int] = (2, 1)      # (train, valid)
    clip_seconds: Tuple[float, float] = (0.5, 2.5)     # realistic: (2.0, 12.0)
    interference_classes: Tuple[str, ...] = (
        "Air conditioning", "Crack", "Engine", "Zipper (clothing)")
    interference_files: Tuple[int, int] = (2, 1)       # per class (train, valid)
    noise_files: Tuple[int, int] = (3, 2)
    noise_seconds: float = 5.0         # realistic: 12.0
    rooms: Tuple[int, int] = (2, 1)
    n_positions: int = 16
    rir_len: int = 4096                # realistic: 174,763 (the official length)
    n_valid: int = 16
    n_test: int = 8
    n_eval: int = 6
    scene_seconds: float = 4.0         # valid/test/eval soundscapes (official: 10 s; realistic: 10)
    m2d_dims: Tuple[int, int, int] = (64, 2, 2)        # embed_dim, depth, num_heads
    fixed_sets: bool = True            # make valid metadata + test/eval soundscapes

    @classmethod
    def small(cls, seed: int = 0, **overrides) -> "MiniCorpusConfig":
        """A reduced corpus (same code paths, ~10 MB, a few seconds) for tests."""
        sizes = dict(files_per_subfolder=(1, 1), noise_files=(1, 1), rooms=(1, 1),
                     n_positions=6, rir_len=1024, interference_files=(1, 1), n_valid=2,
                     n_test=1, n_eval=1, clip_seconds=(0.3, 0.8), noise_seconds=2.0,
                     scene_seconds=4.0)
        sizes.update(overrides)
        return cls(seed=seed, **sizes)

    def __post_init__(self):
        if self.realistic:
            self.clip_seconds, self.noise_seconds, self.rir_len = (2.0, 12.0), 12.0, 174763
            self.scene_seconds = 10.0
        if self.subfolders_per_class < 1 or self.n_positions < 1:
            raise ValueError("subfolders_per_class and n_positions must be >= 1")


def _rng(seed: int, *tags: str) -> np.random.Generator:
    """A generator that depends only on the seed and the item's name (order-free)."""
    return np.random.default_rng([seed] + [zlib.crc32(t.encode()) for t in tags])


# --------------------------------------------------------------------------- PCM writer
def write_pcm16(path: Path, wav: np.ndarray, sr: int = SR) -> None:
    """Atomically write ``wav`` ([T] or [C, T], floats in [-1, 1]) as plain 16-bit PCM.

    Uses the stdlib ``wave`` module, which always writes format tag 1 (WAVE_FORMAT_PCM),
    also for > 2 channels (soundfile would write WAVE_FORMAT_EXTENSIBLE there).
    """
    wav = np.atleast_2d(np.asarray(wav, dtype=np.float64))
    pcm = np.clip(np.round(wav * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(pcm.shape[0])
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes(np.ascontiguousarray(pcm.T).tobytes())


# --------------------------------------------------------------------------- class sounds
@dataclass(frozen=True)
class Timbre:
    """Recipe of a synthetic sound class (all parts optional and summed, then modulated)."""

    tones: Tuple[float, ...] = ()        # fundamentals (Hz)
    harmonics: int = 1                   # partials per tone, amplitude 1/k
    sweep: float = 0.0                   # relative pitch glide over the clip
    noise_band: Optional[Tuple[float, float]] = None   # band-limited noise (Hz)
    noise_gain: float = 1.0
    am_hz: float = 0.0                   # amplitude modulation rate (0: none)
    am_square: bool = False              # on/off modulation (beeps) instead of a sine
    pulse_hz: float = 0.0                # click/burst rate (0: continuous sound)
    pulse_ms: float = 30.0               # decay time of each click/burst


CLASS_TIMBRES: Dict[str, Timbre] = {
    "AlarmClock": Timbre(tones=(2000.0,), harmonics=2, am_hz=4.0, am_square=True),
    "BicycleBell": Timbre(tones=(3150.0, 4250.0), pulse_hz=2.5, pulse_ms=180.0),
    "Blender": Timbre(tones=(110.0,), harmonics=8, noise_band=(300.0, 3000.0), noise_gain=0.8,
                      am_hz=25.0),
    "Buzzer": Timbre(tones=(420.0,), harmonics=12),
    "Clapping": Timbre(noise_band=(900.0, 6000.0), pulse_hz=4.5, pulse_ms=12.0),
    "Cough": Timbre(noise_band=(250.0, 2200.0), pulse_hz=1.3, pulse_ms=140.0),
    "CupboardOpenClose": Timbre(tones=(520.0,), harmonics=3, sweep=0.6,
                                noise_band=(80.0, 900.0), noise_gain=0.6,
                                pulse_hz=0.9, pulse_ms=250.0),
    "Dishes": Timbre(tones=(2450.0, 3650.0, 5150.0), pulse_hz=3.2, pulse_ms=70.0),
    "Doorbell": Timbre(tones=(660.0, 880.0), harmonics=3, pulse_hz=1.0, pulse_ms=450.0),
    "FootSteps": Timbre(noise_band=(60.0, 500.0), pulse_hz=1.9, pulse_ms=45.0),
    "HairDryer": Timbre(tones=(240.0,), harmonics=4, noise_band=(1500.0, 9000.0),
                        noise_gain=1.2),
    "MechanicalFans": Timbre(tones=(75.0,), harmonics=6, noise_band=(40.0, 350.0),
                             noise_gain=0.7, am_hz=7.0),
    "MusicalKeyboard": Timbre(tones=(262.0, 330.0, 392.0), harmonics=4, pulse_hz=2.0,
                              pulse_ms=320.0),
    "Percussion": Timbre(tones=(85.0,), noise_band=(150.0, 4000.0), noise_gain=0.9,
                         pulse_hz=3.6, pulse_ms=60.0),
    "Pour": Timbre(noise_band=(600.0, 2600.0), am_hz=11.0),
    "Speech": Timbre(tones=(135.0,), harmonics=14, sweep=0.25, am_hz=4.2),
    "Typing": Timbre(noise_band=(2200.0, 7500.0), pulse_hz=8.0, pulse_ms=7.0),
    "VacuumCleaner": Timbre(tones=(190.0,), harmonics=5, noise_band=(450.0, 5500.0),
                            noise_gain=1.5),
}
assert sorted(CLASS_TIMBRES) == sorted(CLASSES)


def random_timbre(rng: np.random.Generator) -> Timbre:
    """A random recipe (interference classes, fake external data)."""
    lo = float(rng.uniform(100, 3000))
    return Timbre(tones=(float(rng.uniform(150, 2500)),), harmonics=int(rng.integers(1, 6)),
                  noise_band=(lo, lo * float(rng.uniform(1.5, 4.0))),
                  noise_gain=float(rng.uniform(0.2, 1.5)), am_hz=float(rng.uniform(0, 9)),
                  pulse_hz=float(rng.choice([0.0, rng.uniform(0.5, 6)])))


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float,
               tilt: float = 0.0) -> np.ndarray:
    """[n] unit-RMS noise limited to [lo, hi] Hz, spectrum tilted by f**-tilt (pink: 0.5)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= ((f >= lo) & (f <= hi)) / np.maximum(f, 1.0) ** tilt
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def synth_sound(timbre: Timbre, n: int, rng: np.random.Generator, pitch: float = 1.0,
                sr: int = SR) -> np.ndarray:
    """[n] mono float64 clip of the recipe, peak in [0.3, 0.9], 5 ms fades."""
    t = np.arange(n) / sr
    dur = max(n / sr, 1e-3)
    x = np.zeros(n)
    for f0 in timbre.tones:
        phase0 = t + timbre.sweep * t ** 2 / (2 * dur)      # instantaneous f = f0 (1 + sweep t/T)
        for k in range(1, timbre.harmonics + 1):
            if f0 * k * pitch * (1 + timbre.sweep) < 0.45 * sr:
                x += np.sin(2 * np.pi * f0 * k * pitch * phase0 + rng.uniform(0, 2 * np.pi)) / k
    if timbre.noise_band is not None:
        lo, hi = timbre.noise_band
        x += timbre.noise_gain * band_noise(rng, n, sr, lo * pitch, min(hi * pitch, 0.49 * sr))
    if timbre.am_hz > 0:
        mod = np.sin(2 * np.pi * timbre.am_hz * t + rng.uniform(0, 2 * np.pi))
        x *= (mod > 0) if timbre.am_square else 0.55 + 0.45 * mod
    if timbre.pulse_hz > 0:
        env = np.zeros(n)
        onset = rng.uniform(0, 0.5 / timbre.pulse_hz)
        tau = timbre.pulse_ms / 1000.0
        while onset < dur:
            i = int(onset * sr)
            env[i:] += np.exp(-(t[i:] - t[i]) / tau) * rng.uniform(0.6, 1.0)
            onset += rng.uniform(0.7, 1.3) / timbre.pulse_hz
        x *= env
    fade = min(int(0.005 * sr), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x * rng.uniform(0.3, 0.9) / (np.max(np.abs(x)) + 1e-12)


def _clip_length(rng: np.random.Generator, seconds: Tuple[float, float], sr: int = SR) -> int:
    return int(rng.uniform(*seconds) * sr)


# --------------------------------------------------------------------------- noise and rooms
def make_noise(rng: np.random.Generator, n: int, sr: int = SR) -> np.ndarray:
    """[4, n] background noise: a common pink component plus independent ones, RMS ~0.02."""
    common = band_noise(rng, n, sr, 20.0, 12000.0, tilt=0.5)
    chans = [0.7 * common + 0.3 * band_noise(rng, n, sr, 20.0, 12000.0, tilt=0.5)
             for _ in range(N_CHANNELS)]
    return 0.02 * rng.uniform(0.5, 1.5) * np.stack(chans)


# Tetrahedral capsule directions FLU, FRD, BLD, BRU and the A- to B-format matrix (W, Y, Z, X).
_TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
_A_TO_B = np.array([[1, 1, 1, 1],     # W
                    [1, -1, 1, -1],   # Y
                    [1, -1, -1, 1],   # Z
                    [1, 1, -1, -1]])  # X


def ring_positions(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n, 3] cartesian source positions (m) around the array: two elevation rings, 1-2 m."""
    upper = n // 2
    az = np.concatenate([np.arange(n - upper) * 2 * np.pi / max(n - upper, 1),
                         (np.arange(upper) + 0.5) * 2 * np.pi / max(upper, 1)])
    el = np.deg2rad(np.concatenate([np.full(n - upper, -10.0), np.full(upper, 30.0)]))
    r = rng.uniform(1.0, 2.0, n)
    return np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el)], 1)


def make_room_irs(rng: np.random.Generator, n_positions: int, rir_len: int,
                  sr: int = SR) -> Tuple[np.ndarray, np.ndarray]:
    """Simulate one room -> (irs [M, 4, rir_len] B-format W,Y,Z,X, positions [M, 3])."""
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(5.0, 8.0), rng.uniform(5.0, 7.0), rng.uniform(2.8, 3.5)])
    centre = np.array([dims[0] / 2 + rng.uniform(-0.3, 0.3), dims[1] / 2 + rng.uniform(-0.3, 0.3),
                       1.5])
    positions = ring_positions(rng, n_positions)
    room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(float(rng.uniform(0.25, 0.5))),
                       max_order=6)
    room.add_microphone_array((centre + 0.0147 * _TETRA).T)
    for pos in positions:
        room.add_source(centre + pos)
    room.compute_rir()
    a_format = np.zeros((n_positions, N_CHANNELS, rir_len))
    for mic in range(N_CHANNELS):
        for src in range(n_positions):
            h = np.asarray(room.rir[mic][src])[:rir_len]
            a_format[src, mic, :len(h)] = h
    irs = np.einsum("bm,smt->sbt", _A_TO_B, a_format)
    # The capsule differences are small at 1.5 cm spacing: give Y, Z, X a third of W's energy.
    energy = np.sum(irs ** 2, axis=(0, 2))
    irs[:, 1:] *= np.sqrt(energy[0] / 3.0 / np.maximum(energy[1:].mean(), 1e-20))
    _add_late_tail(rng, irs, sr, rt60=float(rng.uniform(0.3, 0.8)))
    return irs, positions


def _add_late_tail(rng: np.random.Generator, irs: np.ndarray, sr: int, rt60: float) -> None:
    """Add an exponentially decaying noise tail after the early part (in place, [M, R, N])."""
    m, r, n = irs.shape
    start = int(0.06 * sr)
    if n <= start:
        return
    t = np.arange(n - start) / sr
    ref = np.sqrt(np.mean(irs[:, :, start - int(0.01 * sr):start] ** 2, axis=-1, keepdims=True))
    onset = 1.0 - np.exp(-t / 0.005)
    irs[:, :, start:] += ref * rng.standard_normal((m, r, n - start)) * onset \
        * np.exp(-6.9 * t / rt60)


# --------------------------------------------------------------------------- corpus parts
def _split_count(pair: Tuple[int, int], split: str) -> int:
    return pair[SPLITS.index(split)]


def write_sound_events(dev: Path, cfg: MiniCorpusConfig) -> None:
    """sound_event/{train,valid}/<Class>/<Class>_srcK/<...>.wav, mono 32 kHz PCM16."""
    for split in SPLITS:
        for cls, timbre in CLASS_TIMBRES.items():
            for k in range(cfg.subfolders_per_class):
                sub = f"{cls}_{split}_src{k}"
                pitch = _rng(cfg.seed, "pitch", sub).uniform(0.9, 1.12)
                for i in range(_split_count(cfg.files_per_subfolder, split)):
                    name = f"{sub}_{i:02d}"
                    rng = _rng(cfg.seed, "event", name)
                    clip = synth_sound(timbre, _clip_length(rng, cfg.clip_seconds), rng, pitch)
                    write_pcm16(dev / "sound_event" / split / cls / sub / f"{name}.wav", clip)


def write_interference(dev: Path, cfg: MiniCorpusConfig) -> None:
    """interference/{train,valid}/<FSD50K class>/*.wav for a few of the 94 classes."""
    for cls in cfg.interference_classes:
        timbre = random_timbre(_rng(cfg.seed, "timbre", cls))
        for split in SPLITS:
            for i in range(_split_count(cfg.interference_files, split)):
                name = f"int_{split}_{zlib.crc32(cls.encode()):08x}_{i:02d}"
                rng = _rng(cfg.seed, "interference", cls, name)
                clip = synth_sound(timbre, _clip_length(rng, cfg.clip_seconds), rng)
                write_pcm16(dev / "interference" / split / cls / f"{name}.wav", clip)


def write_noise(dev: Path, cfg: MiniCorpusConfig) -> None:
    """noise/{train,valid}/mini-noise_XX_BG.wav, 4 channels, plain PCM."""
    for split in SPLITS:
        for i in range(_split_count(cfg.noise_files, split)):
            name = f"mini-noise_{split}_{i:02d}_BG"
            noise = make_noise(_rng(cfg.seed, "noise", name), int(cfg.noise_seconds * SR))
            write_pcm16(dev / "noise" / split / f"{name}.wav", noise)


def write_rooms(dev: Path, cfg: MiniCorpusConfig) -> None:
    """room_ir/{train,valid}/mini-room_XX.sofa, 4 receivers, n_positions positions."""
    from espnet2_ext.synth.sofa import write_sofa

    for split in SPLITS:
        for i in range(_split_count(cfg.rooms, split)):
            name = f"mini-room_{split}_{i:02d}"
            irs, pos = make_room_irs(_rng(cfg.seed, "room", name), cfg.n_positions, cfg.rir_len)
            write_sofa(dev / "room_ir" / split / f"{name}.sofa", irs, SR, pos)


# --------------------------------------------------------------------------- fake external data
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
        ("train", "Bus", "good", 44100), ("train", "Bus", "lead_zeros", 32000),
        ("train", "Drip", "good", 32000), ("train", "Drip", "low_amplitude", 32000),
        ("train", "Drip", "too_short", 32000),
        ("val", "Bus", "good", 16000), ("val", "Drip", "short_after_trim", 32000),
        ("val", "Drip", "silent_window", 16000),
    ]
    for split, cls, kind, sr in plan:
        name = f"{cls.lower()}_{split}_{kind}"
        write_pcm16(bg / split / cls / f"{name}.wav",
                    fake_external_clip(kind, _rng(seed, "ext", name), sr), sr)

    fsd_rows = []
    for i, (label, kind) in enumerate([("Dishes", "good"), ("Doorbell", "lead_zeros"),
                                       ("Typing", "low_amplitude")]):
        rel = f"clips/{100001 + i}.wav"
        write_pcm16(semhear / "FSD50K" / rel,
                    fake_external_clip(kind, _rng(seed, "fsd", rel), 44100), 44100)
        fsd_rows.append({"file_name": rel, "t4_label": label,
                         "convert_path": f"train/{label}/FSD50K_{100001 + i}/{100001 + i}.wav"})
    ears_rows = []
    for spk, utt, kind in [("p001", "emo_neutral_freeform", "good"),
                           ("p002", "emo_neutral_freeform", "good"),
                           ("p003", "emo_neutral_freeform", "good"),
                           ("p003", "nonverbal_cough", "too_short")]:
        rel = f"{spk}/{utt}.wav"
        write_pcm16(root / "EARS" / rel,
                    fake_external_clip(kind, _rng(seed, "ears", rel), 48000), 48000)
        ears_rows.append({"file_name": rel, "t4_label": "Speech",
                          "convert_path": f"train/Speech/EARS_{spk}/{utt}.wav"})
    return fsd_rows, ears_rows


# --------------------------------------------------------------------------- the whole corpus
def write_m2d_weights(checkpoint_dir: Path, cfg: MiniCorpusConfig) -> Path:
    """Fabricate a tiny M2D weight file as ``checkpoint_dir/<official folder>/<official file>``.

    The fabricator names its folder after the ViT size; the recipe expects the release
    folder name (same input/patch/rate tokens; our loader reads the ViT size from shapes).
    """
    from espnet2_ext.s5.tagger.m2d_weights import fabricate_m2d_weight_file

    embed_dim, depth, heads = cfg.m2d_dims
    scratch = checkpoint_dir / ".fabricate"
    # No AudioSet head: the official loader then uses *stacked* features ([B, 62, 5*D]),
    # which keep the frequency position of each patch; a tiny random ViT with flat
    # (frequency-averaged) features gives the mini tagger too little to learn from.
    made = fabricate_m2d_weight_file(scratch, embed_dim=embed_dim, depth=depth, num_heads=heads,
                                     seed=cfg.seed, with_head=False)
    path = checkpoint_dir / M2D_FOLDER / M2D_WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(made, path)
    shutil.rmtree(scratch)
    return path


def write_raw_corpus(outdir: Path, cfg: MiniCorpusConfig) -> None:
    """Everything except the synthesized sets and the M2D file (fast, no synthesizer)."""
    dev = outdir / "dev_set"
    write_sound_events(dev, cfg)
    write_interference(dev, cfg)
    write_noise(dev, cfg)
    write_rooms(dev, cfg)
    fsd_rows, ears_rows = write_external_tree(outdir / "external", cfg.seed)
    write_json(dev / "config" / "FSD50K_config.json", fsd_rows)
    write_json(dev / "config" / "EARS_config.json", ears_rows)
    for folder in ("metadata/valid", "synthesized/test/soundscape",
                   "synthesized/test/oracle_target"):
        (dev / folder).mkdir(parents=True, exist_ok=True)
    (outdir / "eval_set" / "synthesized" / "eval" / "soundscape").mkdir(parents=True,
                                                                        exist_ok=True)


def config_to_stamp(cfg: MiniCorpusConfig) -> dict:
    return {"version": STAMP_VERSION, "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}


def is_built(outdir: Path, cfg: MiniCorpusConfig) -> bool:
    """True when ``outdir`` holds a finished build of exactly this configuration."""
    stamp = Path(outdir) / STAMP
    try:
        return json.loads(stamp.read_text()) == config_to_stamp(cfg)
    except (OSError, ValueError):
        return False


def build_mini_corpus(outdir: Path, cfg: MiniCorpusConfig) -> Path:
    """Build the corpus into a temporary sibling folder, then move it to ``outdir``.

    An existing ``outdir`` (another seed or an unfinished build) is replaced.
    """
    outdir = Path(outdir)
    tmp = outdir.parent / f".{outdir.name}.building"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        _build_into(tmp, cfg)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)   # no half-built corpus left behind
        raise
    if outdir.exists() or outdir.is_symlink():
        if outdir.is_symlink() or outdir.is_file():
            outdir.unlink()
        else:
            shutil.rmtree(outdir)
    tmp.rename(outdir)
    return outdir


def _build_into(tmp: Path, cfg: MiniCorpusConfig) -> None:
    log.info("mini corpus: sound events, interference, noise, rooms, external data -> %s", tmp)
    write_raw_corpus(tmp, cfg)
    write_m2d_weights(tmp / "checkpoint", cfg)
    if cfg.fixed_sets:
        from espnet2_ext.synth.fixed_sets import make_fixed_sets

        log.info("mini corpus: %d valid scenes, %d test and %d eval soundscapes",
                 cfg.n_valid, cfg.n_test, cfg.n_eval)
        make_fixed_sets(tmp / "dev_set", tmp / "eval_set", n_valid=cfg.n_valid,
                        n_test=cfg.n_test, n_eval=cfg.n_eval, seed=cfg.seed,
                        duration=cfg.scene_seconds)
    write_json(tmp / STAMP, config_to_stamp(cfg))


def tree_digest(root: Path, exclude: Sequence[str] = ()) -> Dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (for determinism checks)."""
    import hashlib

    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel.startswith(e) for e in exclude):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
