"""Synthetic, learnable class sounds and background noise of the mini corpus.

Each of the 18 classes has its own recipe (tone frequencies, harmonics, noise band,
amplitude modulation, click pattern); sub-folders ("recordings") shift the pitch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from espnet2_ext.s5.official import CLASSES, N_CHANNELS, SAMPLE_RATE


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
                sr: int = SAMPLE_RATE) -> np.ndarray:
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


def clip_length(rng: np.random.Generator, seconds: Tuple[float, float], sr: int = SAMPLE_RATE) -> int:
    return int(rng.uniform(*seconds) * sr)


def make_noise(rng: np.random.Generator, n: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """[4, n] background noise: a common pink component plus independent ones, RMS ~0.02."""
    common = band_noise(rng, n, sr, 20.0, 12000.0, tilt=0.5)
    chans = [0.7 * common + 0.3 * band_noise(rng, n, sr, 20.0, 12000.0, tilt=0.5)
             for _ in range(N_CHANNELS)]
    return 0.02 * rng.uniform(0.5, 1.5) * np.stack(chans)
