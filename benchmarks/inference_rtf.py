"""Real-time factor of the full 4-channel S5 chain (M2dAtSpatial ViT-B + ResUNet30).

    python benchmarks/inference_rtf.py [--devices cpu cuda] [--batch_sizes 1 2] [--repeats 3]
        [--threads N] [--seconds 10] [--breakdown] [--bf16]

Models have the official sizes: M2dAtSpatial built from a fabricated full-size M2D weight
file in the official AS-FT layout (ViT-B, 768/12/12, 96.5 M parameters with the 4c head)
and ResUNet30 at the default width (29.9 M). Weights are random, which does not change
the amount of work (every slot is separated; silent ones are zeroed afterwards).

Two code paths run on the *same* parameters:

* ``ours``: :class:`espnet2_ext.s5.pipeline.S5Pipeline` (``torch.inference_mode``).
* ``official-style``: an EMULATION, written in this file, of the official baseline code
  path as described in shared/reference/baseline_spec.md §1.1-1.5 (``S5.predict_label
  _separate`` under ``torch.no_grad``; tagger op sequence as official; ResUNet30 as in
  bytedance/uss + the DCASE mask decoding: one STFT per channel, BatchNorm then ``+ beta``
  then ``leaky_relu_`` as separate ops, NCHW (contiguous) tensors). It is not the official
  code itself (not available offline); the script checks that it gives the same labels
  and waveforms as ours, so both compute one function and only the code path differs.

RTF = wall time of one batch / (batch size x mixture seconds); lower is faster. Timings
are the median of ``--repeats`` runs after one warm-up; the two paths alternate so that
load from other processes hits both alike.

``--bf16`` adds a third path, ``ours bf16``: ours in the opt-in decoding precision
(``S5Pipeline(precision="bf16")``, the same modules); its ``max |diff| / peak`` is against ours in
float32 (the labels are asserted equal).

``--breakdown`` also times the parts of ours per batch, as ``s5_inference`` runs them: reading
the mixtures (4-channel 16-bit WAV files written to a temp dir, ``fileio.read_wav``), the
tagger (``tagger`` + ``slot_predictions``), the separator (``S5Pipeline.separate`` with the
tagged labels) and writing the separated sources (``fileio.write_wav``, float32 WAV, one file a
slot); medians of ``--repeats`` rounds after the warm-up, each part's share of their sum.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import torch
import torch.nn.functional as F

from espnet2_ext import validate
from espnet2_ext.errors import cli_main
from espnet2_ext.fileio import read_wav, write_pcm16, write_wav
from espnet2_ext.s5.labels import SILENCE_INDEX
from espnet2_ext.s5.official import SAMPLE_RATE as SR
from espnet2_ext.s5.pipeline import S5Pipeline, slot_predictions
from espnet2_ext.s5.separator import ResUNet30
from espnet2_ext.s5.separator.resunetk import DECODER, ENCODER, N_MASK_COMPONENTS, source_mask_of
from espnet2_ext.s5.tagger import M2dAtSpatial, fabricate_m2d_weight_file

LEAKY_SLOPE = 0.01


# ------------------------------------------------------------------------------------------
# official-style EMULATION (see the module docstring); uses our modules' parameters only
# ------------------------------------------------------------------------------------------
def official_conv_block(block, x, film):
    """uss ConvBlockRes.forward: BN, + beta, in-place leaky ReLU, conv (twice), residual."""
    h = block.conv1(F.leaky_relu_(block.bn1(x) + film["beta1"], negative_slope=LEAKY_SLOPE))
    h = block.conv2(F.leaky_relu_(block.bn2(h) + film["beta2"], negative_slope=LEAKY_SLOPE))
    return (block.shortcut(x) if block.shortcut is not None else x) + h


def official_separator(sep: ResUNet30, mixture: torch.Tensor, label_vector: torch.Tensor) -> torch.Tensor:
    """ResUNet30 forward as the official code does it: mixture [B, C, L] -> [B, S, 1, L]."""
    base = sep.base
    film = sep.film(sep.label_embedding(label_vector))
    # base.wav_to_spectrogram_phase: one STFT per channel, magnitude / cos / sin, concatenated
    mags, coss, sins = [], [], []
    for ch in range(mixture.shape[1]):
        real, imag = base.stft(mixture[:, ch, :])
        mag = torch.clamp(real ** 2 + imag ** 2, 1e-10, float("inf")) ** 0.5
        mags.append(mag[:, None]), coss.append((real / mag)[:, None]), sins.append((imag / mag)[:, None])
    mag, cos_in, sin_in = torch.cat(mags, 1), torch.cat(coss, 1), torch.cat(sins, 1)
    x = base.bn0(mag.transpose(1, 3)).transpose(1, 3)
    n_frames = x.shape[2]
    x = F.pad(x, (0, 0, 0, -n_frames % base.time_downsample_ratio))[..., :-1]
    x = base.pre_conv(x)
    skips = []
    for name, *_ in ENCODER:
        skip = official_conv_block(getattr(base, name).conv_block1, x, film[name]["conv_block1"])
        x = F.avg_pool2d(skip, kernel_size=getattr(base, name).downsample)
        skips.append(skip)
    x = official_conv_block(base.conv_block7a.conv_block1, x, film["conv_block7a"]["conv_block1"])
    for (name, *_), skip in zip(DECODER, reversed(skips)):
        block = getattr(base, name)
        up = block.conv1(F.leaky_relu_(block.bn1(x) + film[name]["beta1"], negative_slope=LEAKY_SLOPE))
        x = official_conv_block(block.conv_block2, torch.cat((up, skip), dim=1), film[name]["conv_block2"])
    x = F.pad(base.after_conv(x), (0, 1))[:, :, :n_frames, :]
    # feature_maps_to_wav (DCASE version): masks per slot and channel, out_conv, ISTFT
    b, _, t, f = x.shape
    s, c = base.target_sources_num, base.input_channels
    x = x.reshape(b, s, c, N_MASK_COMPONENTS, t, f)
    mask_mag = torch.sigmoid(x[:, :, :, 0])
    m_real, m_imag = torch.tanh(x[:, :, :, 1]), torch.tanh(x[:, :, :, 2])
    m_abs = torch.clamp((m_real ** 2 + m_imag ** 2) ** 0.5, 1e-10, float("inf"))     # torchlibrosa magphase
    mask_cos, mask_sin = m_real / m_abs, m_imag / m_abs
    out_cos = cos_in[:, None] * mask_cos - sin_in[:, None] * mask_sin
    out_sin = sin_in[:, None] * mask_cos + cos_in[:, None] * mask_sin
    out_mag = F.relu_(mag[:, None] * mask_mag)
    out_real = base.out_conv((out_mag * out_cos).reshape(b * s, c, t, f))
    out_imag = base.out_conv((out_mag * out_sin).reshape(b * s, c, t, f))
    wav = base.istft(out_real.reshape(-1, t, f), out_imag.reshape(-1, t, f), mixture.shape[-1])
    wav = wav.reshape(b, s, base.output_channels, -1)
    return wav * source_mask_of(label_vector, s)[:, :, None, None]


@contextlib.contextmanager
def convolution_transforms(*models: torch.nn.Module) -> Iterator[None]:
    """Inside: every STFT/ISTFT/log-mel module of ``models`` computes by its DFT convolutions, as the
    official code (torchlibrosa, nnAudio) does, instead of our FFT path (``use_fft``)."""
    modules = [m for model in models for m in model.modules() if hasattr(m, "use_fft")]
    for m in modules:
        m.use_fft = False
    try:
        yield
    finally:
        for m in modules:
            m.use_fft = True


@torch.no_grad()
def official_style_s5(tagger: M2dAtSpatial, sep: ResUNet30, mixture: torch.Tensor) -> Dict[str, torch.Tensor]:
    """S5.predict_label_separate: tagger.predict, one-hot without the silence column,
    stable silence-last sort per item, flatten to [B, 54], separator; the transforms by
    convolution (:func:`convolution_transforms`)."""
    with convolution_transforms(tagger, sep):
        return _official_style_s5(tagger, sep, mixture)


def _official_style_s5(tagger: M2dAtSpatial, sep: ResUNet30, mixture: torch.Tensor) -> Dict[str, torch.Tensor]:
    logits = tagger(mixture)            # same op sequence as the official PortableM2D / M2dAtSpatial
    probs, idx = logits.softmax(-1).max(-1)
    onehot = F.one_hot(idx, logits.shape[-1]).float()[..., :-1]
    order = torch.stack([torch.tensor(sorted(range(idx.shape[1]), key=lambda i: int(idx[b, i]) == SILENCE_INDEX))
                         for b in range(idx.shape[0])]).to(idx.device)
    label_vector = torch.gather(onehot, 1, order[..., None].expand_as(onehot)).reshape(idx.shape[0], -1)
    return {"index": torch.gather(idx, 1, order), "waveform": official_separator(sep, mixture, label_vector)}


# ------------------------------------------------------------------------------------------
# timing
# ------------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def check_same_function(pipe: S5Pipeline, mixture: torch.Tensor) -> float:
    """Both paths give the same labels; returns max |waveform difference| / peak."""
    ours = pipe(mixture)
    ref = official_style_s5(pipe.tagger, pipe.separator, mixture)
    names = [[n for n in lab] for lab in ours.labels]
    from espnet2_ext.s5.labels import LABELS_WITH_SILENCE
    ref_names = [[LABELS_WITH_SILENCE[i] for i in row] for row in ref["index"].tolist()]
    assert names == ref_names, (names, ref_names)
    peak = float(ref["waveform"].abs().max())
    return float((ours.waveform - ref["waveform"]).abs().max()) / max(peak, 1e-12)


def bf16_difference(pipe: S5Pipeline, low: S5Pipeline, mixture: torch.Tensor) -> float:
    """max |bf16 - fp32 waveform| / peak of ours (same labels asserted; also bf16's warm-up)."""
    ref, got = pipe(mixture), low(mixture)
    assert got.labels == ref.labels, (got.labels, ref.labels)
    peak = float(ref.waveform.abs().max())
    return float((got.waveform - ref.waveform).abs().max()) / max(peak, 1e-12)


def bench_device(pipe: S5Pipeline, device: torch.device, batch_sizes: List[int], repeats: int,
                 seconds: float, by_part: bool = False, bf16: bool = False) -> List[dict]:
    pipe = pipe.to(device)
    rows = []
    for bs in batch_sizes:
        mix = (0.1 * torch.randn(bs, 4, int(seconds * SR), generator=torch.Generator().manual_seed(bs))).to(device)
        err = {"ours": check_same_function(pipe, mix)}    # also the warm-up of both paths
        err["official-style"] = err["ours"]
        paths = {"ours": lambda: pipe(mix),
                 "official-style": lambda: official_style_s5(pipe.tagger, pipe.separator, mix)}
        if bf16:
            low = S5Pipeline(pipe.tagger, pipe.separator, pipe.calibration, precision="bf16")   # the same modules
            err["ours bf16"] = bf16_difference(pipe, low, mix)
            paths["ours bf16"] = lambda: low(mix)
        times: Dict[str, List[float]] = {k: [] for k in paths}
        for _ in range(repeats):
            for name, fn in paths.items():
                times[name].append(timed(fn, device))
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in paths:
            rows.append({"device": device.type, "batch": bs, "path": name, "median_s": med[name],
                         "min_s": min(times[name]), "rtf": med[name] / (bs * seconds),
                         "ratio": med[name] / med["official-style"], "max_rel_diff": err[name]})
        print_rows(rows[-len(paths):])
        if by_part:
            print_breakdown(device.type, bs, breakdown(pipe, device, mix, repeats))
    return rows


BREAKDOWN_PARTS = ("read", "tagger", "separator", "write")


def breakdown(pipe: S5Pipeline, device: torch.device, mix: torch.Tensor, repeats: int) -> Dict[str, float]:
    """Median seconds of each part of ours on the batch ``mix`` (see --breakdown), after a warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = [folder / f"mixture{i}.wav" for i in range(mix.shape[0])]
        for path, x in zip(inputs, mix.cpu().numpy()):
            write_pcm16(path, x / max(float(abs(x).max()), 1e-9) * 0.5)
        state: dict = {}

        def read():
            state["mix"] = torch.stack([torch.from_numpy(read_wav(p, SR, 4)[0]) for p in inputs]).to(device)

        def tag():
            with torch.inference_mode():
                state["labels"] = slot_predictions(pipe.tagger(state["mix"]), pipe.calibration)[0]

        def separate():
            state["waveform"] = pipe.separate(state["mix"], state["labels"])

        def write():
            for i, slots in enumerate(state["waveform"].float().cpu().numpy()):
                for k, wav in enumerate(slots):
                    write_wav(folder / f"out{i}_{k}.wav", wav[0], SR, subtype="FLOAT")

        parts = {"read": read, "tagger": tag, "separator": separate, "write": write}
        for fn in parts.values():                      # warm-up
            fn()
        times: Dict[str, List[float]] = {k: [] for k in parts}
        for _ in range(repeats):
            for name, fn in parts.items():
                times[name].append(timed(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def print_breakdown(device: str, batch: int, parts: Dict[str, float]) -> None:
    total = sum(parts.values())
    print(f"{device:>4}  batch {batch}  ours by part: " + ", ".join(
        f"{name} {parts[name]:.3f} s ({100 * parts[name] / total:.0f} %)" for name in BREAKDOWN_PARTS)
        + f"; sum {total:.2f} s", flush=True)


def print_rows(rows: List[dict]) -> None:
    for r in rows:
        print(f"{r['device']:>4}  batch {r['batch']}  {r['path']:<15} median {r['median_s']:7.2f} s "
              f"(min {r['min_s']:6.2f})  RTF {r['rtf']:.3f}  time vs official-style {r['ratio']:.2f}x"
              f"  [max |diff| / peak {r['max_rel_diff']:.1e}]", flush=True)


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), default=["cpu", "cuda"],
                   help="cuda is skipped when absent")
    p.add_argument("--batch_sizes", nargs="+", type=validate.positive_int, default=[1, 2])
    p.add_argument("--repeats", type=validate.positive_int, default=3)
    p.add_argument("--threads", type=validate.positive_int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seconds", type=validate.positive_float, default=10.0, help="mixture length")
    p.add_argument("--breakdown", action="store_true",
                   help="also time ours by part: read, tagger, separator, write")
    p.add_argument("--bf16", action="store_true",
                   help="also time ours in the opt-in bf16 decoding precision (S5Pipeline(precision='bf16'))")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tagger = M2dAtSpatial(fabricate_m2d_weight_file(tmp))       # official sizes and folder name
    pipe = S5Pipeline(tagger, ResUNet30())
    n_params = sum(p.numel() for p in pipe.parameters())
    print(f"S5 4c chain: {n_params:,} parameters; {args.seconds:g} s mixtures, 4 ch, {SR} Hz")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f}" + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    for name in args.devices:
        if name == "cuda" and not torch.cuda.is_available():
            print("cuda: not available here, skipped")
            continue
        bench_device(pipe, torch.device(name), args.batch_sizes, args.repeats, args.seconds, args.breakdown,
                     args.bf16)


if __name__ == "__main__":
    main()
