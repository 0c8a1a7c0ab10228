"""Synthesis throughput of the on-the-fly training mixtures on one CPU core.

    python benchmarks/synth_throughput.py [--data_root DIR] [--n 50] [--seed 0] [--n_reference 5]

Scenes follow the SpAudSyn measurement in synthesizer_spec.md §11: 10 s, 32 kHz,
3 targets with a channel-0 dry target each, 2 interferers, 1 background,
4-channel RIRs. Without --data_root a realistic corpus is built in a temp dir
(one room: 20 positions x 4 ch x 174,763 taps; clips 2-14 s). ``--data_root`` is
the folder holding dev_set/ (train split is used).

Prints mixtures/s of the fast renderer with a warm RIR-spectrum cache, with a cold
cache (every RIR read and transformed again), and of the straightforward float64
SpAudSyn-equivalent path (render_scene_reference) on the same scenes.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from espnet2_ext.s5.official import SAMPLE_RATE as SR  # noqa: E402
from espnet2_ext.synth.room import RirCache  # noqa: E402
from espnet2_ext.synth.sampler import SceneSampler, scene_rng  # noqa: E402
from espnet2_ext.synth.scene import SceneRenderer, make_scene_config, render_scene_reference  # noqa: E402
from espnet2_ext.synth.sofa import write_sofa  # noqa: E402



def build_data(root: Path, seed: int, n_pos: int = 20, rir_len: int = 174_763) -> None:
    """A realistic small corpus under root/dev_set (train split only)."""
    rng = np.random.default_rng(seed)
    dev = root / "dev_set"

    def clip(path: Path, seconds: float, channels: int = 1):
        path.parent.mkdir(parents=True, exist_ok=True)
        x = rng.standard_normal((int(seconds * SR), channels)).astype(np.float32) * 0.1
        sf.write(str(path), x, SR, subtype="PCM_16")

    for c in ("Speech", "Cough", "Dishes", "Typing", "Doorbell", "Blender"):
        for k in range(3):
            for j in range(2):
                clip(dev / "sound_event/train" / c / f"s{k}" / f"{j}.wav", rng.uniform(2, 14))
    for c in ("Wind", "Zipper", "Engine", "Rain"):
        for j in range(3):
            clip(dev / "interference/train" / c / f"{j}.wav", rng.uniform(2, 14))
    for j in range(3):
        clip(dev / "noise/train" / f"bg{j}.wav", rng.uniform(12, 20), channels=4)
    t = np.arange(rir_len)
    irs = rng.standard_normal((n_pos, 4, rir_len)) * np.exp(-t / (0.5 * SR))
    irs[:, :, 300] += 20.0
    az = np.deg2rad(np.arange(n_pos) * 360.0 / n_pos)
    pos = np.stack([np.cos(az), np.sin(az), np.zeros(n_pos)], axis=1) * 1.5
    (dev / "room_ir/train").mkdir(parents=True, exist_ok=True)
    write_sofa(dev / "room_ir/train/room.sofa", irs, SR, pos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data_root", type=Path, default=None, help="folder holding dev_set/ (default: build one)")
    ap.add_argument("--n", type=int, default=50, help="mixtures to time (fast path)")
    ap.add_argument("--n_reference", type=int, default=5, help="mixtures to time (float64 reference, cold)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            root = Path(tmp)
            t0 = time.perf_counter()
            build_data(root, args.seed)
            print(f"built benchmark data in {time.perf_counter() - t0:.1f} s")
        d = "data/dev_set"
        config = make_scene_config(10.0, SR, 3, 10.0, -55, f"{d}/sound_event/train", f"{d}/noise/train",
                                   f"{d}/interference/train", f"{d}/room_ir/train")
        gen = {"nevent_range": [3, 3], "ninterference_range": [2, 2]}
        sampler = SceneSampler(config, gen, root)
        scenes = [sampler.sample(scene_rng(args.seed, 0, i)) for i in range(args.n)]
        renderer = SceneRenderer(root, sampler.sources, RirCache(max_mb=4096))
        for s in scenes:                      # warm-up: decode clips, fill the RIR-spectrum cache
            renderer.render(s)
        t0 = time.perf_counter()
        for s in scenes:
            renderer.render(s)
        warm = args.n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for s in scenes[:args.n_reference]:
            SceneRenderer(root, sampler.sources, RirCache()).render(s)
        cold = args.n_reference / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for s in scenes[:args.n_reference]:
            render_scene_reference(SceneRenderer(root, sampler.sources, RirCache()), s)
        ref = args.n_reference / (time.perf_counter() - t0)
    print(f"fast renderer, warm RIR cache : {warm:7.2f} mixtures/s ({1000 / warm:6.1f} ms/mixture)")
    print(f"fast renderer, cold RIR cache : {cold:7.2f} mixtures/s ({1000 / cold:6.1f} ms/mixture)")
    print(f"float64 reference (SpAudSyn-like): {ref:7.2f} mixtures/s ({1000 / ref:6.1f} ms/mixture)")
    print(f"speed-up warm / reference: {warm / ref:.1f}x;  vs SpAudSyn's ~0.5 s/mixture: {0.5 * warm:.1f}x")


if __name__ == "__main__":
    main()
