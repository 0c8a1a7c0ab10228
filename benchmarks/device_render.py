"""Throughput of rendering training mixtures on the training device (the torch path).

    python benchmarks/device_render.py [--device cpu|cuda] [--data_root DIR] [--n 16] [--batch_size 8]
                                       [--threads 1] [--seed 0]

The scenes of benchmarks/synth_throughput.py (10 s, 32 kHz, 3 targets with a channel-0
dry target each, 2 interferers, 1 background, 4-channel RIRs; without --data_root the
same data is built in a temp dir). The data loader's part (sampling, decoding clips,
the background) is done beforehand and not timed; timed is what the training wrapper
does per batch with ``train_data_conf.render_on_device: true``:
:meth:`espnet2_ext.synth.torch_render.DeviceRenderer.render` on batches already on
``--device`` (CUDA synchronised). Prints mixtures/s with a warm device RIR cache and with
a cold one (a new cache per batch), and, in the same run on the same scenes, of the CPU
renderer (SceneRenderer, warm, one scipy worker) as the reference.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from synth_throughput import build_data  # noqa: E402  (the same data as the CPU benchmark)
from espnet2_ext.s5.official import SAMPLE_RATE as SR  # noqa: E402
from espnet2_ext.synth.dataset import GenerateDataset  # noqa: E402
from espnet2_ext.synth.scene import make_scene_config  # noqa: E402
from espnet2_ext.tasks.s5_data import device_renderer  # noqa: E402
from espnet2_ext.synth.unrendered import UNRENDERED_KEYS, pad_stack  # noqa: E402


def train_data_conf(n: int) -> dict:
    d = "data/dev_set"
    scene = make_scene_config(10.0, SR, 3, 10.0, -55, f"{d}/sound_event/train", f"{d}/noise/train",
                              f"{d}/interference/train", f"{d}/room_ir/train")
    return {"spatial_sound_scene": scene, "nevent_range": [3, 3], "ninterference_range": [2, 2],
            "dataset_length": n, "render_on_device": True, "rir_cache_mb": 4096}


def device_throughput(root: Path, device: str, n: int, batch_size: int, seed: int) -> dict:
    """{'warm', 'cold', 'cpu_renderer'}: mixtures/s of the device path (warm / cold RIR cache)
    and of the CPU renderer on the same ``n`` scenes."""
    conf = train_data_conf(n)
    dataset = GenerateDataset(conf, root, seed=seed, render_on_device=True, rir_cache_mb=4096)
    items = [dataset[i] for i in range(n)]
    batches = [{k: pad_stack([torch.as_tensor(it[k]) for it in items[i:i + batch_size]]).to(device)
                for k in UNRENDERED_KEYS} for i in range(0, n, batch_size)]

    def rate(render) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for batch in batches:
            render(batch)
        if device == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)

    warm_renderer = device_renderer(conf, str(root))
    rate(warm_renderer.render)                      # warm-up: fills the device cache
    warm = rate(warm_renderer.render)
    cold = rate(lambda b: device_renderer(conf, str(root)).render(b))
    cpu_renderer = GenerateDataset(dict(conf, render_on_device=False), root, seed=seed, rir_cache_mb=4096)
    scenes = [cpu_renderer.scene(i)[0] for i in range(n)]
    for s in scenes:                                # warm-up: decode clips, fill the RIR-spectrum cache
        cpu_renderer.renderer.render(s)
    t0 = time.perf_counter()
    for s in scenes:
        cpu_renderer.renderer.render(s)
    return {"warm": warm, "cold": cold, "cpu_renderer": n / (time.perf_counter() - t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--data_root", type=Path, default=None, help="folder holding dev_set/ (default: build one)")
    ap.add_argument("--n", type=int, default=16, help="mixtures to time")
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available here")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            root = Path(tmp)
            build_data(root, args.seed)
        rates = device_throughput(root, args.device, args.n, args.batch_size, args.seed)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {args.threads} thread(s)"
    print(f"device renderer on {where}, batch {args.batch_size}:")
    print(f"  warm device RIR cache : {rates['warm']:7.2f} mixtures/s ({1000 / rates['warm']:6.1f} ms/mixture)")
    print(f"  cold device RIR cache : {rates['cold']:7.2f} mixtures/s ({1000 / rates['cold']:6.1f} ms/mixture)")
    print(f"CPU renderer (SceneRenderer, warm, 1 worker), same scenes: {rates['cpu_renderer']:7.2f} mixtures/s")
    print(f"device warm / CPU renderer: {rates['warm'] / rates['cpu_renderer']:.2f}x")


if __name__ == "__main__":
    main()
