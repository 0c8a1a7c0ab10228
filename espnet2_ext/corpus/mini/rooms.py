"""Rooms of the mini corpus: 4-channel FOA-like impulse responses.

pyroomacoustics image sources for a small tetrahedral (A-format) array, converted to
B-format (W, Y, Z, X, the channel order the recipe assumes), plus an exponentially
decaying late tail up to the requested length; positions lie on two rings around the array.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE


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
                  sr: int = SAMPLE_RATE) -> Tuple[np.ndarray, np.ndarray]:
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
