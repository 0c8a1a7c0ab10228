"""Rendering a batch of unrendered scenes on the training device (torch).

The same rendering as :class:`espnet2_ext.synth.render.SceneRenderer` (see its module
docstring), batched: for the M events of a batch (``render_*`` tensors, see
:mod:`espnet2_ext.synth.unrendered`), at one FFT size N >= max(T, n_max) + L_max - 1
(L_max over all rooms of the config, so N is the same from batch to batch):

  X_m   = rfft(clip m truncated at the mixture end, placed at its onset)         [M, F]
  E_m   = sum_k |rfft(clip m)_k|^2 * energy_k(room, position)                    (Parseval: the
          energy of the FULL multichannel convolution; = |X_m|^2 when not truncated)
  g_m   = level_gain(E_m, C, n_m + L - 1, ref_db, snr_m)                         (the CPU rule itself)
  mixture_b = irfft(sum_{m in b} g_m X_m H_m)[:, :T] + background_b              [B, C, T]
  dry_b[s]  = irfft(g_m X_m Hd_m)[:T] for the fg event m of slot s (zeros else)  [B, S, 1, T]

H_m (the RIR spectrum, [C, F] complex64), energy (its Parseval weights, [F] float32) and
Hd_m (the direct-path window of the dry channel, [F] complex64) are transformed on the
device from the RIR the CPU renderer uses (:meth:`SofaRoom.rir`, read on the host on a
miss) and kept there in a byte-bounded LRU (``rir_cache_mb`` per rank; the RIRs of the
batch being rendered are held until it is done). Results equal the CPU renderer within
float32 rounding (tests/synth/test_torch_render.py).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.official import N_SLOTS
from espnet2_ext.synth import fft
from espnet2_ext.synth.room import RirCache, RirSpectra, fft_size, spectral_power
from espnet2_ext.synth.sampler import list_room_files
from espnet2_ext.synth.render import level_gain, parseval_energy, single_threaded
from espnet2_ext.synth.scene import CorpusPaths
from espnet2_ext.synth.unrendered import UNRENDERED_KEYS

PathLike = Union[str, Path]
logger = logging.getLogger(__name__)


class DeviceRirCache(RirCache):
    """A :class:`RirCache` whose spectra live on the training device (``spectra(...,
    device=...)``): a miss reads the RIR on the host (matched, resampled, normalised, as the
    CPU renderer) and transforms it on the device; ``max_mb`` bounds the device memory taken."""

    def device_bytes(self) -> int:
        """Bytes of the tensors held now (at most ``max_mb`` MB)."""
        return self._spectra.nbytes


class DeviceRenderer:
    """Renders unrendered batches (:mod:`espnet2_ext.synth.unrendered`) on their device.

    Args:
        corpus_root: the folder ``data/`` of the stored paths maps to.
        room_path: the config's ``room_config.args.path`` (a SOFA file or a folder of them);
            ``render_room`` indexes :func:`list_room_files` of it (listed on first use).
        sr, duration, ref_db: the scene config's rate, length (s) and reference level.
        cache_mb: bound of the RIR spectra kept on each device.
        direct_range_ms: the direct-path window of the dry targets.
        dry_channel: the RIR channel of the dry targets (``fg_return.dry_channel``).
        n_sources: output slots of the dry targets.
    """

    def __init__(self, corpus_root: PathLike, room_path: str, sr: int, duration: float, ref_db: float,
                 cache_mb: float, direct_range_ms: Sequence[float] = (6, 50), dry_channel: int = 0,
                 n_sources: int = N_SLOTS):
        self.paths = CorpusPaths(corpus_root)
        self.room_path = room_path
        self.sr, self.n_samples, self.ref_db = int(sr), int(duration * sr), float(ref_db)
        self.direct_range_ms = list(direct_range_ms)
        self.dry_channel, self.n_sources = int(dry_channel), int(n_sources)
        self.cache = DeviceRirCache(cache_mb)
        self._rooms: Optional[List[Path]] = None
        self._devices_seen: set = set()

    @classmethod
    def from_train_data_conf(cls, conf: dict, corpus_root: Optional[PathLike], cache_mb: float) -> "DeviceRenderer":
        """The renderer of the scenes of a (checked) ``train_data_conf``."""
        scene = conf.get("spatial_sound_scene", conf)
        room_args = scene["room_config"]["args"]
        return cls(corpus_root or "data", room_args["path"], scene["sr"], scene["duration"], scene["ref_db"],
                   cache_mb, room_args.get("direct_range_ms", (6, 50)),
                   int((conf.get("fg_return") or {}).get("dry_channel", 0)))

    def rooms(self) -> List[Path]:
        """The SOFA files ``render_room`` indexes (the sampler's list)."""
        if self._rooms is None:
            self._rooms = [self.paths.resolve(p) for p in list_room_files(self.paths, self.room_path)]
        return self._rooms

    def fft_size(self, longest_clip: int) -> int:
        """N >= max(T, longest clip) + L_max - 1 (L_max over all rooms: N stays put)."""
        rir_len = max(self.cache.room(p).rir_len_at(self.sr) for p in self.rooms())
        return fft_size(max(self.n_samples, longest_clip) + rir_len - 1)

    @torch.no_grad()
    def render(self, batch: Mapping[str, torch.Tensor], return_dry: bool = True
               ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Unrendered batch (``render_*`` [B, ...] on one device) -> mixture [B, C, T] float32 and
        dry targets [B, n_sources, 1, T] float32 (None unless ``return_dry``), on that device."""
        missing = [k for k in UNRENDERED_KEYS if k not in batch]
        if missing:
            raise S5InputError(f"an unrendered batch lacks {missing}; the training data was not made with "
                               f"train_data_conf.render_on_device: true")
        clips, background = batch["render_clips"].float(), batch["render_background"]
        device, (n_batch, n_chan, t) = clips.device, background.shape
        if str(device) not in self._devices_seen:
            self._devices_seen.add(str(device))
            logger.info("rendering the training batches on %s (RIR spectra cached there, at most %.0f MB)",
                        device, self.cache.max_mb)
        if t != self.n_samples:
            raise S5InputError(f"unrendered batch of {t} samples, but the scene config gives {self.n_samples} "
                               f"(duration x sr); the model and the data use different train_data_conf")
        host = {k: batch[k].cpu() for k in ("render_lengths", "render_onsets", "render_snr",
                                             "render_positions", "render_slots", "render_room")}
        lengths = host["render_lengths"].tolist()
        events = [(b, e) for b in range(n_batch) for e in range(clips.shape[1]) if lengths[b][e] > 0]
        nfft = self.fft_size(clips.shape[-1])
        rooms = [self.rooms()[int(i)] for i in host["render_room"].tolist()]
        dry = (self.direct_range_ms, self.dry_channel) if return_dry else None
        with torch.autocast(device.type, enabled=False), single_threaded():
            rirs = [self.cache.spectra(rooms[b], host["render_positions"][b, e].tolist(), self.sr, nfft, dry, device)
                    for b, e in events]
            spectra, gains = self._event_spectra(clips, events, host, rooms, rirs, nfft, n_chan)
            out = torch.zeros((n_batch, n_chan + (self.n_sources if return_dry else 0), nfft // 2 + 1),
                              dtype=torch.complex64, device=device)
            for (b, e), rir, x, gain in zip(events, rirs, spectra, gains):
                scaled = x * gain
                out[b, :n_chan] += rir.wet * scaled
                slot = int(host["render_slots"][b, e])
                if return_dry and slot >= 0:
                    out[b, n_chan + slot] = rir.dry * scaled
            signals = fft.irfft(out, nfft)[..., :t]
        mixture = signals[:, :n_chan] + background.float()
        return mixture, (signals[:, n_chan:, None, :].contiguous() if return_dry else None)

    def _event_spectra(self, clips: torch.Tensor, events: List[Tuple[int, int]], host: Dict[str, torch.Tensor],
                       rooms: List[Path], rirs: List[RirSpectra], nfft: int, n_chan: int
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Spectra of the placed clips [M, F] complex64 and their gains (the level rule) [M] float32."""
        device, t = clips.device, self.n_samples
        if not events:
            return (torch.zeros((0, nfft // 2 + 1), dtype=torch.complex64, device=device),
                    torch.zeros(0, dtype=torch.float32, device=device))
        placed = torch.zeros((len(events), nfft), dtype=torch.float32, device=device)
        truncated = []
        for m, (b, e) in enumerate(events):
            n, onset = int(host["render_lengths"][b, e]), int(host["render_onsets"][b, e])
            kept = max(0, min(n, t - onset))
            placed[m, onset:onset + kept] = clips[b, e, :kept]
            if kept < n:
                truncated.append(m)
        spectra = fft.rfft(placed, nfft)
        # the level is over the clip's full convolution, not only the part inside the mixture
        full = (dict(zip(truncated, fft.rfft(torch.stack([clips[events[m]] for m in truncated]), nfft)))
                if truncated else {})
        energies = [parseval_energy(spectral_power(x), rir.energy)
                    for x, rir in ((full.get(m, spectra[m]), rirs[m]) for m in range(len(events)))]
        gains = []
        for (b, e), energy in zip(events, torch.stack(energies).cpu().tolist()):
            conv_len = int(host["render_lengths"][b, e]) + self.cache.room(rooms[b]).rir_len_at(self.sr) - 1
            gains.append(level_gain(energy, n_chan, conv_len, self.ref_db, float(host["render_snr"][b, e])))
        return spectra, torch.tensor(gains, dtype=torch.float32, device=device)


def model_inputs(renderer: Optional[DeviceRenderer], mixture: Optional[torch.Tensor],
                 dry_sources: Optional[torch.Tensor], batch: Mapping[str, torch.Tensor], return_dry: bool
                 ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """What a training wrapper's forward works on: ``(mixture, dry_sources)`` as given, or
    rendered on the batch's device from the ``render_*`` tensors of an unrendered batch."""
    if mixture is not None:
        return mixture, dry_sources
    if renderer is None:
        raise S5InputError("the batch has no mixture and the model no device renderer; build the model "
                           "with the train_data_conf that has render_on_device: true")
    return renderer.render(batch, return_dry=return_dry)
