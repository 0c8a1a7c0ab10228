"""SOFA rooms: positions, normalised RIRs, the direct-path window, and a per-process cache.

SpAudSyn's ``SofaRoom`` semantics (synthesizer_spec.md §4.7, §6):
  * a position is matched by value (atol 1e-6) against ``SourcePosition``;
  * the RIR is resampled to the output rate if needed, then normalised so that the
    mean over (matched measurements x channels) of the per-channel energy is 1;
    only the first matched measurement is used;
  * the dry/oracle RIR keeps the inclusive window [peak - 6 ms, peak + 50 ms]
    (clipped to the RIR) around argmax|h| and is zero elsewhere.

:class:`RirCache` reads every SOFA header once per process and keeps, in a
byte-bounded LRU, the FFT-domain quantities the fast renderer needs; with a node-wide
:class:`~espnet2_ext.synth.rir_store.RirStore` a miss reads them from the store's mapped files
(written once by whichever process computed them first) before computing them.
"""
from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path
from typing import Callable, Dict, Hashable, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.signal
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.synth import fft
from espnet2_ext.synth.rir_store import RirStore
from espnet2_ext.synth.sofa import read_sofa_header, read_sofa_irs

POSITION_ATOL = 1e-6
DEFAULT_DIRECT_RANGE_MS = (6, 50)


class ByteLru:
    """A least-recently-used cache bounded by the total bytes of its values (numpy arrays and
    torch tensors, also inside dataclasses, tuples and lists; wherever the tensors live)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._items: "collections.OrderedDict[Hashable, Tuple[object, int]]" = collections.OrderedDict()
        self._bytes = 0

    def get_or_make(self, key: Hashable, make: Callable[[], object]) -> object:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key][0]
        value = make()
        size = _nbytes(value)
        if size <= self.max_bytes:
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old
        return value

    @property
    def nbytes(self) -> int:
        """Bytes of the values held now (at most ``max_bytes``)."""
        return self._bytes


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if hasattr(value, "element_size") and hasattr(value, "nelement"):     # a torch tensor
        return value.element_size() * value.nelement()
    if dataclasses.is_dataclass(value):
        return sum(_nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 64


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis (float64 in, float64 out); no-op if rates match."""
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return scipy.signal.resample_poly(x, sr_out // g, sr_in // g, axis=-1)


def resampled_length(n: int, sr_in: int, sr_out: int) -> int:
    """Length of :func:`resample` output for an input of ``n`` samples."""
    if sr_in == sr_out:
        return n
    g = math.gcd(int(sr_in), int(sr_out))
    return -(-n * (sr_out // g) // (sr_in // g))


@dataclasses.dataclass
class SofaRoom:
    """Header of one SOFA file: ``positions`` [M, 3] cartesian metres, ``sr``, ``nchan``, ``rir_len``."""

    path: Path
    sr: int
    nchan: int
    rir_len: int
    positions: np.ndarray

    @classmethod
    def open(cls, path: Path) -> "SofaRoom":
        head = read_sofa_header(path)          # N without reading Data.IR
        return cls(path=Path(path), sr=head.sr, nchan=head.irs.shape[1], rir_len=head.rir_len,
                   positions=head.positions)

    @property
    def nrir(self) -> int:
        return int(self.positions.shape[0])

    def room_info(self, stored_path: str, direct_range_ms: Sequence[float]) -> dict:
        """SpAudSyn ``room_info`` dict (metadata ``room.args.metadata``)."""
        return {"sofa_path": stored_path, "sr": self.sr, "nchan": self.nchan, "nrir": self.nrir,
                "rir_len": self.rir_len, "direct_range_ms": list(direct_range_ms)}

    def match(self, position) -> np.ndarray:
        """Indices of the measurements at ``position`` ([x,y,z] or [[x,y,z]]) within 1e-6 m."""
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.size != 3:
            raise S5InputError(f"event_position must be one [x, y, z] point, got {position!r}")
        hit = np.nonzero(np.all(np.abs(self.positions - p) <= POSITION_ATOL, axis=1))[0]
        if hit.size == 0:
            raise S5InputError(
                f"position {p.tolist()} is not a measurement position of SOFA file {self.path} "
                f"(tolerance {POSITION_ATOL} m); the metadata does not match this room")
        return hit

    def rir(self, position, sr: int) -> np.ndarray:
        """Normalised RIR at ``position``, resampled to ``sr`` -> [R, L] float64."""
        irs = resample(read_sofa_irs(self.path, self.match(position)), self.sr, sr)
        norm = math.sqrt(float(np.mean(np.sum(irs ** 2, axis=-1))))
        if norm == 0.0:
            raise S5InputError(f"SOFA file {self.path}: the RIR at {position} is all zeros")
        return irs[0] / norm

    def rir_len_at(self, sr: int) -> int:
        return resampled_length(self.rir_len, self.sr, sr)


@dataclasses.dataclass
class DirectWindow:
    """The non-zero part of a direct-path RIR: ``taps`` [W] starting at sample ``start``."""

    start: int
    taps: np.ndarray


def direct_path_window(h: np.ndarray, sr: int,
                       direct_range_ms: Sequence[float] = DEFAULT_DIRECT_RANGE_MS) -> DirectWindow:
    """The samples of h [L] on the inclusive window [p - pre, p + post] around p = argmax|h|.

    pre = int(direct_range_ms[0] * sr / 1000), post = int(direct_range_ms[1] * sr / 1000);
    the window is clipped to [0, L - 1].
    """
    pre = int(direct_range_ms[0] * sr / 1000)
    post = int(direct_range_ms[1] * sr / 1000)
    if pre <= 0:
        raise ValueError(f"direct_range_ms[0] must give > 0 samples, got {direct_range_ms}")
    p = int(np.argmax(np.abs(h)))
    lo, hi = max(p - pre, 0), min(p + post, h.shape[-1] - 1)
    return DirectWindow(start=lo, taps=h[lo:hi + 1].copy())


def direct_path_rir(h: np.ndarray, sr: int, direct_range_ms: Sequence[float] = DEFAULT_DIRECT_RANGE_MS
                    ) -> np.ndarray:
    """h [L] kept on the direct-path window (:func:`direct_path_window`) and zero elsewhere."""
    window = direct_path_window(h, sr, direct_range_ms)
    out = np.zeros_like(h)
    out[window.start:window.start + window.taps.shape[0]] = window.taps
    return out


def fft_size(n: int) -> int:
    """The renderers' FFT length for n samples: the smallest power of two >= n.

    Powers of two are what torch's CPU transforms (MKL or pocketfft) and cuFFT do fastest:
    524,288 for 10 s + 5.46 s at 32 kHz takes about 1.3x less time a sample than 512,000 or
    497,664 (scipy's next_fast_len) here; benchmarks/README.md says what it buys.
    """
    return 1 << max(0, int(n) - 1).bit_length()


def parseval_weights(nfft: int) -> np.ndarray:
    """w [nfft//2+1] such that sum(x**2) == sum(w * |rfft(x, nfft)|**2) / nfft."""
    w = np.full(nfft // 2 + 1, 2.0)
    w[0] = 1.0
    if nfft % 2 == 0:
        w[-1] = 1.0
    return w


@dataclasses.dataclass
class RirSpectra:
    """FFT-domain RIR at one position, for one FFT size ``nfft`` (F = nfft // 2 + 1; torch
    tensors on the device that transformed them).

    wet [R, F] complex64: rfft of the normalised RIR (float32);
    energy [F] float32: w * sum_c |wet_c|^2 / nfft (w: :func:`parseval_weights`; summed in
        float64), so that the energy of the full multichannel convolution x * h equals
        sum(|rfft(x)|^2 * energy) when len(x) + L - 1 <= nfft;
    dry [F] complex64: rfft of the direct-path window (:func:`direct_path_rir`) of the dry
        channel, or None where no dry target is rendered.
    """

    wet: torch.Tensor
    energy: torch.Tensor
    dry: Optional[torch.Tensor] = None


#: (direct_range_ms, channel) of the dry targets' direct-path window, or None for no dry targets
DrySpec = Optional[Tuple[Sequence[float], int]]


def spectral_power(spectra: torch.Tensor) -> torch.Tensor:
    """|X|^2 of complex spectra [..., F] -> float32 [..., F] (no square root)."""
    parts = torch.view_as_real(spectra)
    return parts[..., 0].square().addcmul_(parts[..., 1], parts[..., 1])


def rir_spectra(h: np.ndarray, sr: int, nfft: int, dry: DrySpec = None,
                device: Union[str, torch.device] = "cpu") -> RirSpectra:
    """:class:`RirSpectra` of the normalised RIR h [R, L] (float64), transformed in float32 on
    ``device``, the direct-path window of channel ``dry[1]`` in the same call."""
    rows = h.astype(np.float32)
    if dry is not None:
        rows = np.concatenate([rows, direct_path_rir(rows[dry[1]], sr, dry[0])[None]])
    spectra = fft.rfft(torch.from_numpy(rows).to(device), nfft)
    wet = spectra[:h.shape[0]]
    power = spectral_power(wet).sum(0, dtype=torch.float64)           # sum over channels in float64
    energy = (power * torch.from_numpy(parseval_weights(nfft) / nfft).to(device)).float()
    return RirSpectra(wet=wet, energy=energy, dry=None if dry is None else spectra[-1])


class RirCache:
    """Per-process cache: SOFA headers (kept) and RIR spectra (byte-bounded LRU); with ``store``
    the CPU spectra that miss the LRU come from the node-wide store (or are computed and written
    to it): LRU -> store -> compute."""

    def __init__(self, max_mb: float = 512, store: Optional[RirStore] = None):
        self.max_mb = float(max_mb)
        self.store = store
        self._rooms: Dict[str, SofaRoom] = {}
        self._spectra = ByteLru(int(max_mb * 2 ** 20))
        self._last_rir: Tuple[Hashable, np.ndarray] = (None, np.zeros((0, 0)))

    def room(self, path: Path) -> SofaRoom:
        key = str(path)
        if key not in self._rooms:
            self._rooms[key] = SofaRoom.open(Path(path))
        return self._rooms[key]

    def rir(self, path: Path, position, sr: int) -> np.ndarray:
        """Normalised RIR [R, L] float64 at ``position``; the last one read is kept, since an
        event that misses the cache may need it twice (its spectra, and the full convolution of
        a clip longer than the mixture)."""
        key = (str(path), position_key(position), sr)
        if self._last_rir[0] != key:
            self._last_rir = (key, self.room(path).rir(position, sr))
        return self._last_rir[1]

    def spectra(self, path: Path, position, sr: int, nfft: int, dry: DrySpec = None,
                device: Union[str, torch.device] = "cpu") -> RirSpectra:
        """:class:`RirSpectra` of the RIR at ``position`` on ``device`` (cached), with the
        dry-channel direct-path spectrum if ``dry`` = (direct_range_ms, channel) is given."""
        dry_key = None if dry is None else (tuple(dry[0]), int(dry[1]))
        key = (str(device), str(path), position_key(position), sr, nfft, dry_key)
        return self._spectra.get_or_make(  # type: ignore[return-value]
            key, lambda: self.uncached_spectra(path, position, sr, nfft, dry_key, device))

    def uncached_spectra(self, path: Path, position, sr: int, nfft: int, dry: DrySpec = None,
                         device: Union[str, torch.device] = "cpu") -> RirSpectra:
        """What a miss of the LRU costs: the spectra from the store (CPU only), else computed
        (and written to the store)."""
        dry_key = None if dry is None else (tuple(dry[0]), int(dry[1]))

        def compute() -> RirSpectra:
            return rir_spectra(self.rir(path, position, sr), sr, nfft, dry_key, device)

        if self.store is None or torch.device(device).type != "cpu":
            return compute()
        store_dry = None if dry_key is None else (tuple(float(v) for v in dry_key[0]), dry_key[1])
        try:
            file = self.store.key_path(path, position_key(position), sr, nfft, store_dry)
        except OSError:                     # the SOFA file is gone: computing says so properly
            return compute()
        stored = self.store.load(file, self.room(path).nchan, dry_key is not None, nfft)
        if stored is not None:
            return RirSpectra(*stored)
        made = compute()
        self.store.save(file, made.wet, made.energy, made.dry)
        return made


def position_key(position) -> tuple:
    """A hashable key of a source position (float64 values)."""
    return tuple(np.asarray(position, dtype=np.float64).reshape(-1).tolist())
