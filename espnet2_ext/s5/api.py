"""The Python API: one object that tags and separates S5 mixtures.

    from espnet2_ext.s5.api import S5Separate

    model = S5Separate.from_pretrained("exp/packed/<name>.zip")    # or a folder, or "owner/name"
    events = model(mixture, sample_rate=48000)       # numpy or torch, [4, T] or [B, 4, T]
    for e in events:
        print(e.label, e.probability, e.waveform.shape)   # waveform [T] at 48 kHz

:class:`S5Separate` wraps the one decoding path of the recipe (:class:`~espnet2_ext.s5.pipeline.S5Pipeline`):
``s5_inference`` (stage 7) builds the same object and calls :meth:`S5Separate.decode` on the same
32 kHz batches, so the API and the CLI give the same labels, probabilities and waveforms.
Model files load through :func:`espnet2_ext.s5.checkpoints.load_torch_file` (weights only).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.resample import soxr_resample
from espnet2_ext.s5.calibration import Calibration
from espnet2_ext.s5.devices import check_precision, pick_device
from espnet2_ext.s5.longform import Detection, Track, decode_long_form
from espnet2_ext.s5.official import DEFAULT_TAGGER_TYPE, M2D_WEIGHT_PATH, N_CHANNELS, SAMPLE_RATE, SILENCE
from espnet2_ext.s5.pipeline import S5Output, S5Pipeline, check_pair

PathLike = Union[str, os.PathLike]
Waveform = Union[np.ndarray, torch.Tensor]

#: the shortest mixture both models take: the separator's centred STFT (n_fft 1024) reflects
#: 512 samples at each end, the M2D log-mel (n_fft 800) 400
MIN_SAMPLES = 1024 // 2 + 1
PREPARE_HINT = "python -m espnet2_ext.bin.s5_prepare_audio (--upmix / --select map other channel counts)"


@dataclass
class Event:
    """One separated source: its label, the tagger's probability and its waveform [T]
    (mono, at the caller's sample rate; numpy for numpy input, torch for torch input)."""

    label: str
    probability: float
    waveform: Waveform


def load_pipeline(tagger_model: Optional[PathLike], separator_model: PathLike, *,
                  tagger_type: str = DEFAULT_TAGGER_TYPE, m2d_weight_file: Optional[PathLike] = M2D_WEIGHT_PATH,
                  espnet_weight_file: Optional[PathLike] = None, tagger_config: Optional[PathLike] = None,
                  separator_config: Optional[PathLike] = None, calibration: Optional[PathLike] = None,
                  names: Tuple[str, str] = ("tagger_model", "separator_model")) -> S5Pipeline:
    """Load the models (no tagger: oracle labels only) into an :class:`S5Pipeline` on CPU.

    ``m2d_weight_file``: the M2D weights of an official tagger checkpoint; ``espnet_weight_file``:
    see :func:`~espnet2_ext.s5.model_files.load_tagger`. ``names``: how errors call the two models."""
    from espnet2_ext.s5.model_files import load_separator, load_tagger

    tagger = None
    if tagger_model is not None:
        tagger = load_tagger(tagger_model, tagger_type, m2d_weight_file, tagger_config, espnet_weight_file)
    separator = load_separator(separator_model, separator_config)
    check_pair(tagger, separator, f"{names[0]} {tagger_model}", f"{names[1]} {separator_model}")
    return S5Pipeline(tagger, separator, Calibration.from_file(Path(calibration)) if calibration else None)


def _as_float_tensor(mixture: Waveform) -> Tuple[torch.Tensor, bool]:
    """(mixture as a float32 torch tensor, whether the caller gave numpy)."""
    if isinstance(mixture, np.ndarray):
        if not (np.issubdtype(mixture.dtype, np.floating) or np.issubdtype(mixture.dtype, np.integer)):
            raise S5InputError(f"the mixture has dtype {mixture.dtype}: give float samples (numpy or torch)")
        return torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32)), True
    if isinstance(mixture, torch.Tensor):
        if mixture.is_complex() or mixture.dtype == torch.bool:
            raise S5InputError(f"the mixture has dtype {mixture.dtype}: give float samples (numpy or torch)")
        return mixture.detach().float(), False
    raise S5InputError(f"the mixture is a {type(mixture).__name__}: give a numpy array or a torch tensor "
                       f"[4, T] or [B, 4, T] (read a file with soundfile.read(path, always_2d=True)[0].T)")


def check_mixture(mixture: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """[4, T] or [B, 4, T] finite samples, long enough -> [B, 4, T]; else one S5InputError naming the fix."""
    shape = tuple(mixture.shape)
    if mixture.ndim not in (2, 3):
        raise S5InputError(f"the mixture has shape {shape}: give [4, T] (one mixture) or [B, 4, T] (a batch), "
                           f"channels first")
    batch = mixture if mixture.ndim == 3 else mixture[None]
    if batch.shape[1] != N_CHANNELS:
        transposed = " (channels last? pass mixture.T)" if batch.shape[-1] == N_CHANNELS else ""
        raise S5InputError(f"the mixture has shape {shape}: {batch.shape[1]} channels where {N_CHANNELS} "
                           f"(first-order Ambisonics) are needed{transposed}; convert recordings with {PREPARE_HINT}")
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise S5InputError(f"sample_rate={sample_rate!r}: give the mixture's sample rate in Hz as a positive "
                           f"integer (e.g. {SAMPLE_RATE})")
    if batch.numel() and not bool(torch.isfinite(batch).all()):
        raise S5InputError("the mixture holds NaN or infinite samples: replace them (e.g. numpy.nan_to_num) "
                           "or check how it was read")
    n_model = int(np.ceil(batch.shape[-1] * SAMPLE_RATE / sample_rate))
    if n_model < MIN_SAMPLES:
        raise S5InputError(f"the mixture has {batch.shape[-1]} samples at {sample_rate} Hz, fewer than the "
                           f"{MIN_SAMPLES} at {SAMPLE_RATE} Hz the models need (the separator's STFT window); "
                           f"give a longer mixture")
    return batch


class S5Separate:
    """Tag and separate S5 mixtures: ``model(mixture) -> events``.

    Args:
        tagger_model: an official ``m2dat_{1c,4c}.ckpt`` or a recipe model file
            (``exp/tag_blocks_4c/valid.loss.best.pth`` with its ``config.yaml``); None: oracle labels
            only (:meth:`separate_labels`).
        separator_model: an official ``resunetk.ckpt`` or a recipe model file.
        m2d_weight_file: the M2D weight file; for an official tagger (default
            ``official.M2D_WEIGHT_PATH``) and, when given, also for a recipe tagger (instead of the
            path in its config).
        calibration: an ``s5_calibrate`` file (default: the baseline's argmax).
        device: 'auto' (CUDA when present), 'cpu', 'cuda' or a torch.device.
        precision: 'fp32' (default, the official arithmetic) or 'bf16' (opt-in: the tagger and the
            U-Net under bfloat16 autocast; faster on GPUs and AMX CPUs, outputs within bf16 rounding
            of fp32: docs/python_api.md).
        tagger_type: variant of an official tagger checkpoint ('4c', '1c' or 'm2d_at_*').
        tagger_config, separator_config: the config.yaml of a recipe model file (default: beside it).
    """

    def __init__(self, tagger_model: Optional[PathLike], separator_model: PathLike,
                 m2d_weight_file: Optional[PathLike] = None, calibration: Optional[PathLike] = None,
                 device: Union[str, torch.device] = "auto", *, tagger_type: str = DEFAULT_TAGGER_TYPE,
                 tagger_config: Optional[PathLike] = None, separator_config: Optional[PathLike] = None,
                 precision: str = "fp32") -> None:
        from espnet2_ext.s5.model_files import tagger_type_arg

        for what, path in (("tagger_model", tagger_model), ("separator_model", separator_model),
                           ("m2d_weight_file", m2d_weight_file), ("calibration", calibration),
                           ("tagger_config", tagger_config), ("separator_config", separator_config)):
            if path is not None and not Path(path).is_file():
                raise S5InputError(f"{what}={str(path)!r}: file not found; give the path of the file "
                                   f"(or S5Separate.from_pretrained(<stage-9 archive>))")
        try:
            tagger_type = tagger_type_arg(tagger_type)
        except Exception as e:     # argparse.ArgumentTypeError
            raise S5InputError(f"tagger_type={tagger_type!r}: {e}") from None
        device = pick_device(device, "device")
        check_precision(precision, "precision")
        pipeline = load_pipeline(tagger_model, separator_model, tagger_type=tagger_type,
                                 m2d_weight_file=m2d_weight_file or M2D_WEIGHT_PATH, espnet_weight_file=m2d_weight_file,
                                 tagger_config=tagger_config, separator_config=separator_config,
                                 calibration=calibration)
        self._setup(pipeline, device, precision)

    def _setup(self, pipeline: S5Pipeline, device: torch.device, precision: Optional[str]) -> None:
        self.device = device
        self.pipeline = pipeline.to(device).eval()
        if precision is not None:
            self.pipeline.precision = check_precision(precision, "precision")

    @property
    def precision(self) -> str:
        return self.pipeline.precision

    @classmethod
    def from_pipeline(cls, pipeline: S5Pipeline, device: Union[str, torch.device] = "auto",
                      precision: Optional[str] = None) -> "S5Separate":
        """Wrap models already loaded (``s5_inference`` loads them with its flag names in errors);
        ``precision`` None keeps the pipeline's."""
        self = cls.__new__(cls)
        self._setup(pipeline, pick_device(device, "device"), precision)
        return self

    @classmethod
    def from_pretrained(cls, source: PathLike, *, device: Union[str, torch.device] = "auto",
                        m2d_weight_file: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None,
                        revision: Optional[str] = None, precision: str = "fp32") -> "S5Separate":
        """A packed system (stage-9 archive .zip/.tgz/.tar, or its unpacked folder), the models of a
        decode folder (``exp/decode_*/test``) or a Hugging Face Hub repository ``owner/name``
        holding one archive. See :mod:`espnet2_ext.s5.pretrained`."""
        from espnet2_ext.s5.pretrained import resolve_system

        system = resolve_system(source, m2d_weight_file=m2d_weight_file, cache_dir=cache_dir, revision=revision)
        return cls(system.tagger_model, system.separator_model, system.m2d_weight_file, system.calibration, device,
                   tagger_type=system.tagger_type, tagger_config=system.tagger_config,
                   separator_config=system.separator_config, precision=precision)

    # ------------------------------------------------------------------ the decoding path
    @property
    def has_tagger(self) -> bool:
        return self.pipeline.tagger is not None

    def tagger_m2d_file(self) -> Optional[str]:
        """The M2D weight file the tagger was built on (absolute path; None without a tagger)."""
        from espnet2_ext.s5.tagger.m2d_backbone import PortableM2D

        if not self.has_tagger:
            return None
        built = [m.weight_file for m in self.pipeline.tagger.modules() if isinstance(m, PortableM2D)]
        return str(Path(built[0]).resolve()) if built else None

    def num_parameters(self) -> int:
        """Parameters of the tagger and the separator (the submission's model size)."""
        return sum(p.numel() for p in self.pipeline.parameters())

    def decode(self, mixture: torch.Tensor) -> S5Output:
        """The one decoding path: mixture [B, 4, T] at 32 kHz -> labels [B][3] (silence last),
        probabilities [B, 3], waveforms [B, 3, 1, T] (on :attr:`device`)."""
        if not self.has_tagger:
            raise S5InputError("this S5Separate has no tagger (built for oracle labels): give tagger_model=")
        return self.pipeline(mixture.to(self.device))

    def separate_labels(self, mixture: torch.Tensor, labels: Sequence[Sequence[str]],
                        activity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Oracle labels: mixture [B, 4, T] at 32 kHz, labels [B][<=3] -> waveforms [B, 3, 1, T]
        (``activity`` [B, 3, K]: only for a Time-FiLM separator)."""
        return self.pipeline.separate(mixture.to(self.device), labels, activity)

    def decode_window(self, mixture: torch.Tensor) -> List[List[Detection]]:
        """:meth:`decode` in the long-form decoder's terms: [B, 4, W] at 32 kHz -> per mixture
        [(label, probability, waveform [W] numpy)] (silent slots left out)."""
        return [[(label, p, w.float().cpu().numpy()) for label, p, w in dets] for dets in self._decode_torch(mixture)]

    def decode_long(self, mixture: torch.Tensor, window_s: float = 10.0, hop_s: float = 5.0,
                    batch_size: int = 1) -> List[Track]:
        """One recording [4, T] at 32 kHz of any length -> tracks (label, probability, onset and
        offset in s, waveform [T] numpy), by windows of ``window_s`` every ``hop_s`` seconds
        (:func:`espnet2_ext.s5.longform.decode_long_form`)."""
        return decode_long_form(mixture, self.decode_window, SAMPLE_RATE, window_s, hop_s, batch_size)

    def __call__(self, mixture: Waveform, sample_rate: int = SAMPLE_RATE, *, batch_size: Optional[int] = None,
                 long_form: bool = False, window_s: float = 10.0,
                 hop_s: float = 5.0) -> Union[List[Event], List[List[Event]], List[Track], List[List[Track]]]:
        """Tag and separate ``mixture`` [4, T] -> [Event] or [B, 4, T] -> [[Event]] (silent slots
        left out), resampled to 32 kHz with soxr and back to ``sample_rate``.

        ``batch_size``: mixtures (long form: windows) per model call (default: all at once; long
        form: 1). ``long_form=True``: recordings of any length, decoded by windows of ``window_s``
        every ``hop_s`` seconds, give :class:`~espnet2_ext.s5.longform.Track` s (an Event with
        onset and offset in seconds) instead, one per event of the recording."""
        tensor, was_numpy = _as_float_tensor(mixture)
        batch = check_mixture(tensor, sample_rate)
        n_in = batch.shape[-1]
        model_rate = self._to_model_rate(batch, sample_rate)

        def back(wav: Waveform) -> Waveform:
            return self._from_model_rate(wav, sample_rate, n_in, was_numpy, tensor.device)

        results: list = []
        if long_form:
            for x in model_rate:
                results.append([replace(t, waveform=back(t.waveform))
                                for t in self.decode_long(x, window_s, hop_s, batch_size or 1)])
            return results if tensor.ndim == 3 else results[0]
        step = batch_size or len(model_rate) or 1
        for start in range(0, len(model_rate), step):
            results.extend([[Event(label, p, back(w)) for label, p, w in dets]
                            for dets in self._decode_torch(model_rate[start:start + step])])
        return results if tensor.ndim == 3 else results[0]

    def _decode_torch(self, mixture: torch.Tensor) -> List[List[Tuple[str, float, torch.Tensor]]]:
        """:meth:`decode` -> per mixture [(label, probability, waveform [T] torch)], silence left out."""
        out = self.decode(mixture)
        return [[(label, float(p), w[0]) for label, p, w in zip(labels, probs, wav) if label != SILENCE]
                for labels, probs, wav in zip(out.labels, out.probabilities.tolist(), out.waveform)]

    @staticmethod
    def _to_model_rate(batch: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """[B, 4, T] at ``sample_rate`` -> [B, 4, T'] at 32 kHz (CPU float32)."""
        if sample_rate == SAMPLE_RATE:
            return batch
        return torch.stack([torch.from_numpy(np.ascontiguousarray(
            soxr_resample(np.ascontiguousarray(x.cpu().numpy().T), sample_rate, SAMPLE_RATE).T)) for x in batch])

    @staticmethod
    def _from_model_rate(wav: Waveform, sample_rate: int, n_out: int, numpy: bool,
                         device: torch.device) -> Waveform:
        """One separated waveform [T'] at 32 kHz -> [n_out] at ``sample_rate``, numpy or torch on ``device``."""
        wav = wav.float().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
        if sample_rate != SAMPLE_RATE:
            wav = soxr_resample(wav, SAMPLE_RATE, sample_rate, n_out).astype(np.float32)
        return wav if numpy else torch.from_numpy(wav).to(device)
