"""Synthesis throughput of the on-the-fly training mixtures on one CPU core.

    OMP_NUM_THREADS=1 python benchmarks/synth_throughput.py [--config YAML] [--data_root DIR]
        [--n 30] [--n_cold 8] [--n_reference 5] [--n_real 8] [--rounds 3] [--seed 0]
        [--real_positions 1080] [--real_mb_per_position 10] [--rir_cache_mb 512]
        [--spaudsyn DIR --spaudsyn_python PY [--n_spaudsyn 10]] [--revisions REV,REV,...]
        [--device cpu|cuda [--batch_size 8]] [--profile N]

Times the path that training uses: items of ``GenerateDataset`` (scene sampling, rendering,
item assembly) with the ``train_data_conf`` of a recipe config (default
conf/tuning/sep_resunetk.yaml: 1-3 targets with dry targets, 0-2 interferers, same-class
duplicates, 1 background; a tagger config gives its own settings: no dry targets).
Rows, all on the same scenes and in the same run:

  warm      the RIR-spectrum cache holds every position (a warm-up pass filled it);
  cold      no RIR cache (rir_cache_mb 0): every RIR read from SOFA and transformed again;
  real-corpus hit rate
            the in-process LRU hit at the rate it has on the real corpus:
            h = rir_cache_mb / (real_positions x real_mb_per_position) (512 / (1080 x 10) = 4.7 %
            by default). A look-up of uniformly drawn positions hits an LRU of C of P positions
            with probability C / P, so each look-up hits the warm LRU with probability h (a seeded
            draw) and otherwise misses it: the RIR is read from SOFA and transformed again (the
            mini corpus's 20 positions are too few to size a real LRU to 4.7 % of them); the
            row prints the hits it drew;
  node-wide store (warm)
            no in-process LRU (rir_cache_mb 0), every RIR spectrum from the node-wide store
            (``rir_store_dir``: mapped .npy files, written by a warm-up pass, so in the page
            cache);
  real-corpus hit rate + node-wide store
            the real-corpus hit rate, the misses read from the store: what a worker of a node
            with the store on does;
  reference ``render_scene_reference`` (float64, one full fftconvolve per event and per dry
            target, RIRs read from SOFA each time), the oracle of the tests.

Decoded clips are cached in all rows. Rates are mixtures per second of CPU time of this
process (``time.process_time``: one core, not skewed by other jobs on a shared machine) and
of wall time; each is the median over ``--rounds`` alternating rounds.

``--device cpu|cuda`` adds the row of rendering on the training device
(``train_data_conf.render_on_device: true``): the same items drawn unrendered (workers only
sample scenes and decode clips, untimed) are stacked into batches of ``--batch_size`` on the
device and rendered by :class:`DeviceRenderer` (after one warm-up pass that fills its RIR
cache); the rate is mixtures per wall second, CUDA synchronised.

``--revisions`` (git revisions of this repository, oldest first) extracts each revision's
whole ``espnet2_ext`` and renders the same ``--n`` scenes with it in a child process
(``benchmarks/renderer_rate.py``; render only, warm RIR cache), revisions alternating round by
round, and prints each one's rate and its ratio to the first: what each step bought; beside
them, each child's whole-process CPU time (imports, the cold warm-up pass and the timed passes)
and peak RSS (``getrusage`` CPU time and ``VmHWM`` of the child), and their ratios to the first
revision's.

``--profile N`` profiles N warm items (cProfile on CPU time, items 0..n-1 cycled) after the
rounds and prints the share of their time by operation, in the categories of
benchmarks/README.md: forward and inverse transforms, frequency-domain products, levels, clip
placement, copy-out with the background, RIR-spectrum cache look-ups, and the rest of the item
(scene sampling, clip and background fetching, item assembly).

With ``--spaudsyn DIR`` the official generate path (``DatasetS3`` of the baseline tree DIR,
with SpAudSyn installed in it as ``src/modules/spatial_audio_synthesizer``) renders mixtures
of the same corpus with the same settings in a subprocess run by ``--spaudsyn_python`` (DIR's
own environment); the script prints its rate and the ratio. Without ``--data_root`` the
corpus is built in a temp dir in the official layout (readable by the official code): one
SOFA room, 20 positions x 4 ch x 174,763 taps (32 kHz); 6 target classes x 3 subfolders x
2 clips and 4 interference classes x 3 clips of 2-14 s; 3 four-channel backgrounds of 12-20 s.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Tuple

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from espnet2_ext import validate  # noqa: E402
from espnet2_ext.errors import S5InputError, cli_main  # noqa: E402
from espnet2_ext.fileio import write_pcm16  # noqa: E402
from espnet2_ext.s5.labels import CLASSES  # noqa: E402
from espnet2_ext.s5.official import SAMPLE_RATE as SR  # noqa: E402
from espnet2_ext.synth.dataset import GenerateDataset  # noqa: E402
from espnet2_ext.synth.render import render_scene_reference  # noqa: E402
from espnet2_ext.synth.rir_store import RirStore  # noqa: E402
from espnet2_ext.synth.room import RirCache  # noqa: E402
from revisions import package_at  # noqa: E402  (benchmarks/revisions.py)
from espnet2_ext.synth.sofa import write_sofa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "egs2/dcase26t4/s5/conf/tuning/sep_resunetk.yaml"
SPAUDSYN_CHILD = Path(__file__).resolve().with_name("spaudsyn_rate.py")
RENDERER_CHILD = Path(__file__).resolve().with_name("renderer_rate.py")


def build_data(root: Path, seed: int, n_pos: int = 20, rir_len: int = 174_763) -> None:
    """A small corpus in the official layout under root/dev_set (train split only)."""
    rng = np.random.default_rng(seed)
    dev = root / "dev_set"

    def clip(path: Path, seconds: float, channels: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_pcm16(path, rng.standard_normal((channels, int(seconds * SR))) * 0.1, SR)

    for c in CLASSES[:6]:
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


def read_recipe_config(path: Path) -> Tuple[dict, bool]:
    """(train_data_conf, is_tagger) of a recipe training config."""
    try:
        conf = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise S5InputError(f"--config {path}: cannot read it ({e}); give a conf/tuning/*.yaml") from e
    if not isinstance(conf, dict) or not isinstance(conf.get("train_data_conf"), dict):
        raise S5InputError(f"--config {path} has no train_data_conf block; give a conf/tuning/*.yaml")
    return conf["train_data_conf"], "tagger" in conf


def timed(func: Callable[[int], object], indices) -> Tuple[float, float]:
    """(mixtures per CPU second, mixtures per wall second) of func over indices."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in indices:
        func(i)
    n = len(indices)
    return n / (time.process_time() - cpu), n / (time.perf_counter() - wall)


class HitRateRirCache(RirCache):
    """A warm LRU that each look-up hits with probability ``hit_rate`` (seeded draws); a miss
    costs what a miss of the real LRU costs (:meth:`RirCache.uncached_spectra`: the store if
    any, else SOFA and transforms). ``fill = True`` (the warm-up pass) makes every look-up go
    through the LRU, so that it holds every position the timed items use."""

    def __init__(self, hit_rate: float, seed: int, store=None):
        super().__init__(4096, store=store)
        self.hit_rate, self.rng, self.fill = float(hit_rate), np.random.default_rng(seed), False
        self.hits = self.lookups = 0

    def spectra(self, path, position, sr, nfft, dry=None, device="cpu"):
        if self.fill:
            return super().spectra(path, position, sr, nfft, dry, device)
        self.lookups += 1
        if self.rng.random() < self.hit_rate:
            self.hits += 1
            return super().spectra(path, position, sr, nfft, dry, device)
        return self.uncached_spectra(path, position, sr, nfft, dry, device)


def with_rirs(data: GenerateDataset, rirs: RirCache) -> GenerateDataset:
    data.renderer.rirs = data.sampler.rirs = rirs
    return data


def check_spaudsyn_tree(base: Path) -> None:
    """The files of the official baseline tree and its SpAudSyn copy that the child imports."""
    needed = [base / "src/datamodules", base / "src/modules/spatial_audio_synthesizer/room.py",
              base / "src/modules/spatial_audio_synthesizer/spatial_audio_synthesizer.py"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise S5InputError(f"--spaudsyn {base} lacks {', '.join(missing)}: give the official baseline tree "
                           "with SpAudSyn's src/ copied to src/modules/spatial_audio_synthesizer")


def run_spaudsyn(args, conf: dict, is_tagger: bool, root: Path) -> Tuple[float, float]:
    """Rates of the official DatasetS3 generate path on the same corpus (a subprocess)."""
    base = args.spaudsyn
    request = {"baseline": str(base.resolve()), "corpus_root": str(root.resolve()), "n": args.n_spaudsyn,
               "rounds": args.rounds, "seed": args.seed, "config": dict(conf, mode="generate"),
               "tagger": is_tagger}
    try:
        result = child_result(args.spaudsyn_python, SPAUDSYN_CHILD, json.dumps(request), {},
                              f"--spaudsyn {base}: the official DatasetS3 run failed")
    except OSError as e:
        raise S5InputError(f"--spaudsyn_python {args.spaudsyn_python}: cannot run it ({e})") from e
    return result["cpu"], result["wall"]


def child_result(python: str, script: Path, request: str, env: dict, failure: str) -> dict:
    """The JSON a benchmark child prints last, run on one thread with ``request`` on stdin;
    an S5InputError ``failure (its last stderr line)`` if it fails."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **env)
    proc = subprocess.run([python, str(script)], input=request, capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise S5InputError(f"{failure} ({last})")
    return json.loads(lines[-1])


def check_revision(revision: str) -> None:
    """A git revision whose espnet2_ext has GenerateDataset (what the child uses)."""
    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{revision}:espnet2_ext/synth/dataset.py"],
                      capture_output=True).returncode != 0:
        raise S5InputError(f"--revisions: no espnet2_ext/synth/dataset.py at git revision {revision!r}")


def compare_revisions(revisions, conf: dict, is_tagger: bool, root: Path, n: int, rounds: int, seed: int,
                      tmp: Path) -> None:
    """Each revision's whole espnet2_ext renders the same n scenes in its own process
    (benchmarks/renderer_rate.py), revisions alternating round by round; print rates, the
    children's whole-process CPU time and peak RSS, and their ratios to the first revision."""
    folders = [package_at(rev, tmp / f"revision{k}") for k, rev in enumerate(revisions)]
    request = json.dumps({"corpus_root": str(root.resolve()), "config": conf, "tagger": is_tagger, "n": n,
                          "seed": seed, "passes": 2})
    results = [[] for _ in revisions]
    for _ in range(rounds):
        for rev, folder, out in zip(revisions, folders, results):
            result = child_result(sys.executable, RENDERER_CHILD, request, {"PYTHONPATH": str(folder)},
                                  f"--revisions: the renderer of {rev} failed")
            if not result["package"].startswith(str(folder)):
                raise S5InputError(f"--revisions: {rev} imported {result['package']}, not its own copy; "
                                   "run from an environment where espnet2_ext is not installed elsewhere first")
            out.append(result)
    print(f"renderer by revision (render only, {n} scenes, each revision's own package in its own process, "
          f"medians of {rounds} rounds; rate in mixtures per CPU second; whole process: CPU s and peak RSS)")
    print(f"  {'revision':12s} {'mix/cpu-s':>9s} {'ratio':>6s}  {'proc cpu-s':>10s} {'ratio':>6s}  "
          f"{'peak RSS MiB':>12s} {'ratio':>6s}")

    def median_of(key: str, k: int) -> Tuple[float, float]:
        values = [r[key] for r in results[k]]
        return statistics.median(values), statistics.median(a[key] / b[key] for a, b in zip(results[k], results[0]))

    for k, rev in enumerate(revisions):
        (rate, r_rate), (cpu, r_cpu), (rss, r_rss) = (median_of(key, k) for key in ("cpu", "process_cpu_s",
                                                                                     "peak_rss_mb"))
        print(f"  {rev:12s} {rate:9.2f} x{r_rate:5.2f}  {cpu:10.2f} x{r_cpu:5.2f}  {rss:12.0f} x{r_rss:5.2f}"
              f"  vs {revisions[0]}")


def device_rate(conf: dict, root: Path, device: str, n: int, batch_size: int, rounds: int,
                kwargs: dict) -> float:
    """Mixtures per wall second of :class:`DeviceRenderer` on the items 0..n-1, warm device cache."""
    from espnet2_ext.synth.unrendered import UNRENDERED_KEYS, pad_stack
    from espnet2_ext.tasks.s5_data import device_renderer

    conf = dict(conf, render_on_device=True)
    data = GenerateDataset(conf, render_on_device=True, **kwargs)
    items = [data[i] for i in range(n)]
    batches = [{k: pad_stack([torch.as_tensor(it[k]) for it in items[i:i + batch_size]]).to(device)
                for k in UNRENDERED_KEYS} for i in range(0, n, batch_size)]
    renderer = device_renderer(dict(conf, rir_cache_mb=4096), str(root))

    def one_pass() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for batch in batches:
            renderer.render(batch)
        if device == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - start)

    one_pass()                                   # warm-up: fills the device RIR cache
    return statistics.median(one_pass() for _ in range(rounds))


PROFILE_ORDER = ("forward transforms", "inverse transforms", "frequency-domain products", "levels",
                 "clip placement", "copy-out with the background", "RIR-spectrum cache look-ups",
                 "rest of the item")


def profile_shares(func: Callable[[int], object], indices) -> Tuple[dict, float]:
    """({category: CPU seconds}, total CPU seconds) of func over indices, by cProfile on CPU
    time; categories are disjoint sums of the renderer's functions (inclusive times)."""
    prof = cProfile.Profile(time.process_time)
    prof.runcall(lambda: [func(i) for i in indices])
    stats = pstats.Stats(prof).stats            # (file, line, name) -> (cc, nc, tottime, cumtime, callers)

    def where(key) -> Tuple[str, str]:
        return key[0].replace(os.sep, "/"), key[2]

    def inclusive(module: str, name: str) -> float:          # time of module.name called by _render
        total = 0.0
        for key, (_, _, _, _, callers) in stats.items():
            path, func_name = where(key)
            if func_name != name or not path.endswith(module):
                continue
            total += sum(v[3] for c, v in callers.items() if from_render(c))
        return total

    def from_render(caller) -> bool:                  # SceneRenderer._render or a comprehension in it
        path, name = where(caller)
        return path.endswith("synth/render.py") and name in ("_render", "<listcomp>")

    def called_from_render(names) -> float:           # torch builtins called by SceneRenderer._render
        total = 0.0
        for key, (_, _, _, _, callers) in stats.items():
            if key[0] == "~" and any(n in key[2] for n in names):
                total += sum(v[3] for c, v in callers.items() if from_render(c))
        return total

    parts = {
        "forward transforms": inclusive("synth/fft.py", "rfft"),
        "inverse transforms": inclusive("synth/fft.py", "irfft"),
        "frequency-domain products": called_from_render(("addcmul_", "torch.mul>", "'mul_'")),
        "levels": (inclusive("synth/room.py", "spectral_power")
                   + inclusive("synth/render.py", "parseval_energy")
                   + inclusive("synth/render.py", "level_gain")),
        "clip placement": inclusive("synth/render.py", "_placed"),
        "copy-out with the background": (inclusive("synth/render.py", "_with_parts")
                                         + inclusive("synth/render.py", "_in_slots")),
        "RIR-spectrum cache look-ups": inclusive("synth/room.py", "spectra"),
    }
    total = sum(v[3] for key, v in stats.items() if key[2] == "<lambda>" and key[0].endswith("synth_throughput.py"))
    parts["rest of the item"] = total - sum(parts.values())
    return parts, total


def print_profile(parts: dict, total: float, n: int) -> None:
    print(f"profile of {n} warm items (cProfile, CPU time, {1000 * total / n:.1f} ms an item under the profiler)")
    for name in PROFILE_ORDER:
        print(f"  {name:32s} {100 * parts[name] / total:5.1f} %  {1000 * parts[name] / n:7.2f} ms an item")


def report(name: str, rates) -> Tuple[float, float]:
    cpu, wall = statistics.median(r[0] for r in rates), statistics.median(r[1] for r in rates)
    print(f"{name:44s} {cpu:7.2f} {1000 / cpu:8.1f} {wall:7.2f}")
    return cpu, wall


@cli_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="recipe config with train_data_conf")
    ap.add_argument("--data_root", type=Path, default=None, help="folder holding dev_set/ (default: build one)")
    ap.add_argument("--n", type=validate.positive_int, default=30, help="items per round, warm cache")
    ap.add_argument("--n_cold", type=validate.positive_int, default=8, help="items per round, cold cache")
    ap.add_argument("--n_reference", type=validate.positive_int, default=5, help="items per round, float64 reference")
    ap.add_argument("--n_real", type=validate.positive_int, default=8,
                    help="items per round, real-corpus hit rate rows")
    ap.add_argument("--real_positions", type=validate.positive_int, default=1080,
                    help="room positions of the real corpus (all rooms)")
    ap.add_argument("--real_mb_per_position", type=validate.positive_float, default=10.0,
                    help="MB of RIR spectra a position takes")
    ap.add_argument("--rir_cache_mb", type=validate.nonnegative_float, default=512.0,
                    help="rir_cache_mb of a loader process on the real corpus")
    ap.add_argument("--rounds", type=validate.positive_int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spaudsyn", type=Path, default=None, help="official baseline tree with SpAudSyn")
    ap.add_argument("--spaudsyn_python", default=sys.executable, help="python of that tree's environment")
    ap.add_argument("--n_spaudsyn", type=validate.positive_int, default=10, help="items per round, official path")
    ap.add_argument("--revisions", default=None, help="comma-separated git revisions to compare, oldest first")
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None, help="also time rendering on this device")
    ap.add_argument("--batch_size", type=validate.positive_int, default=8, help="batch of the --device row")
    ap.add_argument("--profile", type=validate.positive_int, default=None, metavar="N",
                    help="also profile N warm items and print the shares of time by operation")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise S5InputError("--device cuda: CUDA is not available here")
    conf, is_tagger = read_recipe_config(args.config)
    if args.spaudsyn is not None:
        check_spaudsyn_tree(args.spaudsyn)
    revisions = args.revisions.split(",") if args.revisions else []
    for rev in revisions:
        check_revision(rev)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            root = Path(tmp)
            build_data(root, args.seed)
        kwargs = dict(corpus_root=root, label_vector_mode="stack" if is_tagger else "concat",
                      return_source=not is_tagger, seed=args.seed)
        warm = GenerateDataset(conf, rir_cache_mb=4096, source_cache_mb=1024, **kwargs)
        cold = GenerateDataset(conf, rir_cache_mb=0, source_cache_mb=1024, **kwargs)
        hit_rate = min(1.0, args.rir_cache_mb / (args.real_positions * args.real_mb_per_position))
        store_dir = Path(tmp) / "rir_store"
        real = with_rirs(GenerateDataset(conf, source_cache_mb=1024, **kwargs), HitRateRirCache(hit_rate, args.seed))
        stored = GenerateDataset(dict(conf, rir_store_dir=str(store_dir)), rir_cache_mb=0, source_cache_mb=1024,
                                 **kwargs)
        real_stored = with_rirs(GenerateDataset(conf, source_cache_mb=1024, **kwargs),
                                HitRateRirCache(hit_rate, args.seed + 1, RirStore(store_dir)))
        items = range(args.n)
        for i in items:                         # decode the clips, fill the RIR-spectrum cache and the store
            warm[i]
            stored[i]
        for i in items[:args.n_cold]:
            cold[i]
        for data in (real, real_stored):        # every position of the timed items in the LRU
            data.renderer.rirs.fill = True
            for i in items[:args.n_real]:
                data[i]
            data.renderer.rirs.fill = False

        def reference(i: int):
            return render_scene_reference(warm.renderer, warm.scene(i)[0], return_dry=not is_tagger)

        rows = {"warm": (warm, items), "cold": (cold, items[:args.n_cold]), "real": (real, items[:args.n_real]),
                "store": (stored, items), "real_store": (real_stored, items[:args.n_real])}
        rates = {name: [] for name in (*rows, "reference")}
        for _ in range(args.rounds):
            for name, (data, which) in rows.items():
                rates[name].append(timed(data.__getitem__, which))
            rates["reference"].append(timed(reference, items[:args.n_reference]))
        print(f"config {args.config.name}; medians of {args.rounds} rounds; one core")
        print(f"{'path':44s} {'mix/cpu-s':>7s} {'ms(cpu)':>8s} {'mix/s(wall)':>7s}")
        fast = report("ours, warm RIR cache", rates["warm"])
        report("ours, cold RIR cache", rates["cold"])
        real_rate = report("ours, real-corpus hit rate", rates["real"])
        store_rate = report("ours, node-wide store (warm)", rates["store"])
        real_store_rate = report("ours, real-corpus hit rate + node-wide store", rates["real_store"])
        ref = report("float64 reference (render_scene_reference)", rates["reference"])
        for data, what in ((real, "real-corpus hit rate"), (real_stored, "real-corpus hit rate + store")):
            cache = data.renderer.rirs
            print(f"{what}: LRU hit rate {100 * hit_rate:.1f} % = rir_cache_mb {args.rir_cache_mb:g} / "
                  f"({args.real_positions} positions x {args.real_mb_per_position:g} MB); each look-up hits the warm "
                  f"LRU with that probability, else misses it; drawn: {cache.hits} hits of {cache.lookups} "
                  f"look-ups ({100 * cache.hits / max(cache.lookups, 1):.1f} %)")
        files = list(store_dir.glob("*.npy"))
        print(f"node-wide store: {len(files)} files, {sum(f.stat().st_size for f in files) / len(files) / 2 ** 20:.1f} "
              f"MB a position" if files else "node-wide store: no files written")
        print(f"ours warm / float64 reference: {fast[0] / ref[0]:.1f}x (cpu), {fast[1] / ref[1]:.1f}x (wall)")
        if args.spaudsyn is not None:
            official = run_spaudsyn(args, conf, is_tagger, root)
            print(f"{'official DatasetS3 generate (SpAudSyn)':44s} {official[0]:7.2f} {1000 / official[0]:8.1f} "
                  f"{official[1]:7.2f}")
            for name, rate in (("ours warm", fast), ("ours real-corpus hit rate", real_rate),
                               ("ours node-wide store (warm)", store_rate),
                               ("ours real-corpus hit rate + store", real_store_rate)):
                print(f"{name} / SpAudSyn: {rate[0] / official[0]:.1f}x (cpu), {rate[1] / official[1]:.1f}x (wall)")
        if args.device is not None:
            where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu, 1 thread"
            rate = device_rate(conf, root, args.device, args.n, args.batch_size, args.rounds, kwargs)
            print(f"{'ours on the device (' + where + f'), batch {args.batch_size}':44s} {'-':>7s} {'-':>8s} "
                  f"{rate:7.2f}")
            print(f"device / ours warm (wall): {rate / fast[1]:.1f}x")
        if args.profile:
            parts, total = profile_shares(warm.__getitem__, [i % args.n for i in range(args.profile)])
            print_profile(parts, total, args.profile)
        if revisions:
            compare_revisions(revisions, conf, is_tagger, root, args.n, args.rounds, args.seed, Path(tmp))


if __name__ == "__main__":
    main()
