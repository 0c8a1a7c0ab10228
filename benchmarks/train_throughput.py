"""Training throughput end to end (data loading included) on one device, against the official code.

    python benchmarks/train_throughput.py [--configs YAML ...] [--data_root DIR] [--device cpu|cuda]
        [--rows fp32,device,amp,fast,official[,channels_last,compile]] [--steps N] [--warmup N]
        [--batch_size B] [--clip_seconds S] [--num_workers N] [--threads N] [--mini true]
        [--official DIR --official_python PY] [--json FILE] [--logs DIR]

For each config (default: conf/tuning/tag_head_4c.yaml, the tagger head on the frozen M2D, and
conf/tuning/sep_resunetk.yaml, the ResUNetK separator) and each row, a fresh process trains
for warmup + steps + 1 steps and reports training items per second. Rows:

  fp32           ours as configured: float32, mixtures rendered in the loader workers;
  device         ours with train_data_conf.render_on_device: true (workers only sample scenes
                 and decode clips; the training device convolves);
  amp            ours with bf16 autocast (espnet2's --use_amp true) + render_on_device; CUDA
                 only (espnet2 autocasts on CUDA): on a CPU the row says "CUDA only";
  channels_last  ours with --channels_last true + render_on_device (not in the default rows);
  compile        ours with --torch_compile true + render_on_device (not in the default rows);
  fast           ours with bf16 autocast + --channels_last true + --torch_compile true +
                 render_on_device (on a CPU: channels_last + compile in float32, bf16 being CUDA only);
  official       with --official DIR --official_python PY: the official training
                 (benchmarks/official_train_rate.py runs its Lightning code and its DatasetS3 /
                 SpAudSyn loader from DIR, in DIR's environment) with the same batch size,
                 num_workers, clip length and step counts. DIR = the official baseline tree with
                 SpAudSyn's src/ copied to src/modules/spatial_audio_synthesizer, as its README says.

What is timed is what users run: ours is ``S5TaggingTask.main`` / ``S5SeparationTask.main`` (the
espnet2 Trainer with our task classes: the real data loader with the config's ``num_workers``
unless --num_workers, ``S5IterFactory``, the espnet2 model wrapper, loss, backward, gradient
clipping, AdamW) on the recipe config with these changes only: batch size, num_workers, clip
length (scene duration and max_event_dur), ``dataset_length`` = (warmup + steps + 1) x batch,
``max_epoch`` 1, the M2D weight file (a fabricated full-size one: random weights, the official
sizes, which does not change the work) and the row's options. A forward pre-hook on the
training model stamps the start of every step (CUDA synchronised, so the previous step's
kernels are done); the official child stamps Lightning's ``on_train_batch_start`` the same way.
Items/s = steps x batch / (start of step warmup + steps - start of step warmup): the mean rate
of the steady-state window, which counts the steps that waited for data (a median of step
times would hide the loader: batches arrive in bursts of num_workers); the median step time is
printed beside it. The run stops at the next step's start, so validation, checkpoint writing
and the process start-up (imports, model build, loader start, compilation) are not timed:
warm-up steps cover the first batches, compilation and the loader's prefetch queue (default
warm-up: 2 x num_workers + 2 steps on CUDA, the most batches the loader can have ready when the
window opens; 1 on a CPU, where the models, not the loader, bound the rate). "data wait" is the
share of the window spent waiting for the next batch (ours: time in the loader iterator's
next(); official: between ``on_train_batch_end`` and the next ``on_train_batch_start``).
Utilisation over the window is sampled from this process every 0.1 s: the CPU time of the
training process and its loader workers (percent of one core: 200 % = two cores busy) and, on
CUDA, ``nvidia-smi``'s GPU utilisation (mean of the samples). "items/CPU-s" = items/s divided
by that CPU share: on a shared CPU the rows get different shares of the cores, and a
compute-bound row's rate moves with its share.

Without --data_root the corpus is built in a temp dir in the official layout, as
synth_throughput.py builds it (one SOFA room of 20 positions x 4 ch x 174,763 taps; 6 target
classes x 3 subfolders x 2 clips and 4 interference classes x 3 clips of 2-14 s; 3 four-channel
backgrounds of 12-20 s), readable by the official code too; ``--data_root`` takes a folder
holding dev_set/ (e.g. one made by ``python -m espnet2_ext.bin.s5_full_corpus``). The
validation data dir our trainer requires holds one silent mixture and is never read.
``--mini true`` shrinks our models for CI (separator base_channels of conf/mini, a 64/2/2 M2D);
the official row keeps the official sizes. Defaults are device-dependent: on CUDA the configs'
batch sizes, 10 s clips, 20 timed steps, all rows; on a CPU batch 2, 4 s clips, 2 timed steps, no
"fast" row (compiling on a CPU takes minutes; ask for it with --rows). The full-size separator
is slow on a CPU (tens of seconds a step on 2 cores): a CPU run shows that the paths work and
how the rows compare there, not GPU figures.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from espnet2_ext import validate  # noqa: E402
from espnet2_ext.errors import S5InputError, cli_main  # noqa: E402
from process_sampler import Sampler, run_child  # noqa: E402  (benchmarks/process_sampler.py)

TUNING = REPO / "egs2/dcase26t4/s5/conf/tuning"
MINI = REPO / "egs2/dcase26t4/s5/conf/mini"
DEFAULT_CONFIGS = [TUNING / "tag_head_4c.yaml", TUNING / "sep_resunetk.yaml"]
OFFICIAL_CHILD = Path(__file__).resolve().with_name("official_train_rate.py")
#: our recipe config -> the official config it reproduces (baseline_spec.md section 5)
OFFICIAL_CONFIGS = {"tag_head_4c": "label/m2dat_4c", "tag_head_1c": "label/m2dat_1c",
                    "sep_resunetk": "separation/resunetk_capisdr"}
#: issue #26: ours per GPU against the official per GPU
GOALS = {"tagger": 5.0, "separator": 3.0}
MINI_M2D = (64, 2, 2)
#: row -> (label, options)
ROWS = {
    "fp32": ("ours fp32, rendering in the loader", {}),
    "device": ("ours fp32, render_on_device", {"render_on_device": True}),
    "amp": ("ours bf16 autocast, render_on_device", {"render_on_device": True, "use_amp": True}),
    "channels_last": ("ours channels_last, render_on_device", {"render_on_device": True, "channels_last": True}),
    "compile": ("ours torch.compile, render_on_device", {"render_on_device": True, "torch_compile": True}),
    "fast": ("ours bf16+channels_last+compile, on device",
             {"render_on_device": True, "use_amp": True, "channels_last": True, "torch_compile": True}),
    "official": ("official (Lightning + SpAudSyn)", {}),
}
#: default rows by device (on a CPU, "fast" compiles for minutes: ask for it with --rows)
DEFAULT_ROWS = {"cuda": "fp32,device,amp,fast,official", "cpu": "fp32,device,amp,official"}


# ----------------------------------------------------------------------------- measuring children
class StopBenchmark(Exception):
    """Raised by the step clock once the last timed step has started."""


def ours_child() -> None:
    """Child process: train with our task class for the requested steps; print the stamps."""
    request = json.loads(sys.stdin.read())
    import torch

    if request.get("threads"):
        torch.set_num_threads(request["threads"])
    from espnet2.iterators.abs_iter_factory import AbsIterFactory

    from espnet2_ext.tasks.s5_sep import S5SeparationTask
    from espnet2_ext.tasks.s5_tag import S5TaggingTask

    cuda, total = request["device"] == "cuda", request["total"]
    starts: List[float] = []
    wall: List[float] = []
    waits: List[float] = []

    def clock(module, args, kwargs=None):
        if cuda:
            torch.cuda.synchronize()
        starts.append(time.perf_counter())
        wall.append(time.time())
        if len(starts) >= total:
            raise StopBenchmark

    class WaitClock(AbsIterFactory):
        """The training iterator factory, timing each next() of its batches."""

        def __init__(self, factory):
            self.factory = factory

        def __getattr__(self, name):
            return getattr(self.factory, name)

        def build_iter(self, epoch, shuffle=None):
            it = iter(self.factory.build_iter(epoch, shuffle))
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                waits.append(time.perf_counter() - t0)
                yield item

    base = S5TaggingTask if request["tagger"] else S5SeparationTask

    class Timed(base):
        @classmethod
        def build_model(cls, args):
            model = super().build_model(args)
            model.register_forward_pre_hook(clock)
            return model

        @classmethod
        def build_iter_factory(cls, args, distributed_option, mode, kwargs=None):
            factory = super().build_iter_factory(args, distributed_option, mode, kwargs)
            return WaitClock(factory) if mode == "train" else factory

    try:
        Timed.main(cmd=request["cmd"])
    except StopBenchmark:
        pass
    if len(starts) < total:
        print(f"ERROR: our training ran {len(starts)} steps, {total} expected", file=sys.stderr)
        sys.exit(2)
    print(json.dumps({"starts": starts, "wall_starts": wall, "waits": waits}), flush=True)
    sys.stdout.flush()
    os._exit(0)      # the loader workers of the interrupted epoch need no orderly shutdown


def summarise(stamps: dict, waits: List[float], warmup: int, steps: int, batch: int, sampler: Sampler) -> dict:
    starts = stamps["starts"]
    window = starts[warmup + steps] - starts[warmup]
    step_times = [b - a for a, b in zip(starts[warmup:warmup + steps], starts[warmup + 1:warmup + steps + 1])]
    result = {"items_per_s": steps * batch / window, "median_step_s": statistics.median(step_times),
              "window_s": window, "data_wait": sum(waits) / window if waits else None}
    result.update(sampler.over(stamps["wall_starts"][warmup], stamps["wall_starts"][warmup + steps]))
    cpu = result["cpu_percent"]       # on a shared CPU the rate moves with the CPU share a run got
    result["items_per_cpu_s"] = result["items_per_s"] / (cpu / 100) if cpu and cpu > 0 else None
    return result


# ----------------------------------------------------------------------------- inputs
def write_valid_dir(out: Path, seconds: float) -> Path:
    """A stage-3 data dir with one silent 4-channel mixture (the trainer requires one; the timed
    steps end before validation)."""
    import numpy as np

    from espnet2_ext.fileio import write_pcm16
    from espnet2_ext.s5.official import LABELS_FILE, N_SLOTS, SPK2UTT, UTT2SPK, WAV_SCP, spk_scp

    out.mkdir(parents=True, exist_ok=True)
    wav = out / "v0.wav"
    write_pcm16(wav, np.zeros((4, int(seconds * 32000))), 32000)
    tables = {WAV_SCP: f"v0 {wav}", UTT2SPK: "v0 v0", SPK2UTT: "v0 v0",
              LABELS_FILE: "v0 " + " ".join(["silence"] * N_SLOTS)}
    tables.update({spk_scp(k + 1): "v0 -" for k in range(N_SLOTS)})
    for name, row in tables.items():
        (out / name).write_text(row + "\n")
    return out


def read_config(path: Path) -> dict:
    try:
        conf = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise S5InputError(f"--configs {path}: cannot read it ({e}); give a conf/tuning/*.yaml") from e
    if not isinstance(conf, dict) or not isinstance(conf.get("train_data_conf"), dict) or \
            not ("tagger" in conf or "separator" in conf):
        raise S5InputError(f"--configs {path}: not a tagger or separator training config with a train_data_conf "
                           "block; give a conf/tuning/*.yaml")
    return conf


def check_official_tree(base: Path) -> None:
    needed = [base / "src/train.py", base / "src/datamodules/datamodule.py", base / "src/datamodules/dataset.py",
              base / "src/modules/spatial_audio_synthesizer/room.py",
              base / "src/modules/spatial_audio_synthesizer/spatial_audio_synthesizer.py"]
    needed += [base / "config" / f"{c}.yaml" for c in sorted(set(OFFICIAL_CONFIGS.values()))]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise S5InputError(f"--official {base} lacks {', '.join(missing)}: give the official baseline tree "
                           "(nttcslab/dcase2026_task4_baseline) with SpAudSyn's src/ copied to "
                           "src/modules/spatial_audio_synthesizer")


def boolean(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return text.lower() == "true"


def parse_rows(text: str) -> List[str]:
    rows = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        raise S5InputError(f"--rows {text!r}: unknown row(s) {', '.join(unknown) or '(none given)'}; "
                           f"choose from {','.join(ROWS)}")
    return rows


# ----------------------------------------------------------------------------- one config
class Bench:
    def __init__(self, args: argparse.Namespace, root: Path, tmp: Path):
        self.args, self.root, self.tmp = args, root, tmp
        self.cuda = args.device == "cuda"
        self._m2d: Dict[bool, Path] = {}
        self.failures: List[str] = []

    def m2d(self, mini: bool) -> Path:
        """A fabricated M2D weight file (official sizes, or the mini 64/2/2 ViT), made once."""
        if mini not in self._m2d:
            from espnet2_ext.s5.tagger import fabricate_m2d_weight_file

            dims = dict(zip(("embed_dim", "depth", "num_heads"), MINI_M2D)) if mini else {}
            self._m2d[mini] = fabricate_m2d_weight_file(self.tmp / ("m2d_mini" if mini else "m2d"), **dims)
        return self._m2d[mini]

    def settings(self, conf: dict) -> dict:
        a = self.args
        scene = conf["train_data_conf"].get("spatial_sound_scene", {})
        num_workers = a.num_workers if a.num_workers is not None else int(conf.get("num_workers", 0))
        return {"batch_size": a.batch_size or (int(conf["batch_size"]) if self.cuda else 2),
                "clip_seconds": a.clip_seconds or (float(scene.get("duration", 10.0)) if self.cuda else 4.0),
                "num_workers": num_workers, "steps": a.steps or (20 if self.cuda else 2),
                "warmup": a.warmup if a.warmup is not None else (2 * num_workers + 2 if self.cuda else 1)}

    def ours(self, path: Path, conf: dict, s: dict, options: dict, name: str) -> dict:
        conf = json.loads(json.dumps(conf))
        tagger = "tagger" in conf
        total = s["warmup"] + s["steps"] + 1
        data = conf["train_data_conf"]
        data["dataset_length"] = total * s["batch_size"]
        scene = data.setdefault("spatial_sound_scene", {})
        scene["duration"] = scene["max_event_dur"] = s["clip_seconds"]
        data["render_on_device"] = bool(options.get("render_on_device"))
        conf.update(batch_size=s["batch_size"], num_workers=s["num_workers"], max_epoch=1, seed=self.args.seed)
        if tagger:
            conf.setdefault("tagger_conf", {})["weight_file"] = str(self.m2d(self.args.mini))
        elif self.args.mini:
            mini = MINI / path.name
            width = (yaml.safe_load(mini.read_text()) or {}).get("separator_conf", {}).get("base_channels", 8) \
                if mini.is_file() else 8
            conf.setdefault("separator_conf", {})["base_channels"] = width
        work = self.tmp / f"{path.stem}_{name}"
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(conf))
        flags = {"use_amp": "--use_amp", "channels_last": "--channels_last", "torch_compile": "--torch_compile"}
        cmd = ["--config", str(work / "config.yaml"), "--output_dir", str(work / "exp"),
               "--valid_data_dir", str(self.valid(s["clip_seconds"])), "--corpus_root", str(self.root),
               "--ngpu", "1" if self.cuda else "0"]
        for key, flag in flags.items():
            cmd += [flag, "true" if options.get(key) else "false"]
        request = {"cmd": cmd, "total": total, "device": self.args.device, "tagger": tagger,
                   "threads": self.args.threads}
        stamps, sampler = run_child([sys.executable, __file__, "--_child"], request, self.env(), self.cuda,
                                    f"{path.name} row {name}: our training failed", self.keep_log(path, name))
        return summarise(stamps, stamps["waits"][s["warmup"] + 1:s["warmup"] + s["steps"] + 1], s["warmup"],
                         s["steps"], s["batch_size"], sampler)

    def official(self, path: Path, conf: dict, s: dict) -> dict:
        total = s["warmup"] + s["steps"] + 1
        request = {"baseline": str(self.args.official.resolve()), "corpus_root": str(self.root.resolve()),
                   "config": OFFICIAL_CONFIGS[path.stem], "device": self.args.device, "seed": self.args.seed,
                   "weight_file": str(self.m2d(False).resolve()) if "tagger" in conf else None,
                   **{k: s[k] for k in ("batch_size", "num_workers", "warmup", "steps", "clip_seconds")}}
        stamps, sampler = run_child([self.args.official_python, str(OFFICIAL_CHILD)], request, self.env(False),
                                    self.cuda, f"{path.name} row official: the official training failed",
                                    self.keep_log(path, "official"))
        starts, ends = stamps["starts"], stamps["ends"]
        waits = [starts[k] - ends[k - 1] for k in range(s["warmup"] + 1, s["warmup"] + s["steps"] + 1)]
        return summarise(stamps, waits, s["warmup"], s["steps"], s["batch_size"], sampler)

    def keep_log(self, path: Path, name: str) -> Optional[Path]:
        return None if self.args.logs is None else self.args.logs / f"{path.stem}_{name}.log"

    def valid(self, seconds: float) -> Path:
        out = self.tmp / f"valid_{seconds:g}s"
        return out if out.is_dir() else write_valid_dir(out, seconds)

    def env(self, ours: bool = True) -> dict:
        """The children's environment: ours with this repository first on PYTHONPATH, the official
        one without it (it imports nothing from here)."""
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO) if ours else None,
                                                            os.environ.get("PYTHONPATH")]))}
        if self.args.threads:
            env.update(OMP_NUM_THREADS=str(self.args.threads), MKL_NUM_THREADS=str(self.args.threads))
        return env

    def run_config(self, path: Path, rows: List[str]) -> List[dict]:
        conf = read_config(path)
        s = self.settings(conf)
        kind = "tagger" if "tagger" in conf else "separator"
        print(f"\n{path.name} ({kind}): batch {s['batch_size']}, {s['clip_seconds']:g} s clips, num_workers "
              f"{s['num_workers']}, {s['warmup']} warm-up + {s['steps']} timed steps", flush=True)
        results = []
        for name in rows:
            label, options = ROWS[name]
            row = {"config": path.name, "kind": kind, "row": name, "label": label, **s}
            if name == "official" and self.args.official is None:
                continue
            if name == "official" and path.stem not in OFFICIAL_CONFIGS:
                row["status"] = "no official counterpart"
            elif options.get("use_amp") and not self.cuda and name == "amp":
                row["status"] = "CUDA only"
            else:
                if options.get("use_amp") and not self.cuda:      # "fast" on a CPU: bf16 is CUDA only
                    options = dict(options, use_amp=False)
                    row["label"] = "ours channels_last+compile (bf16: CUDA only)"
                if name == "official" and self.args.mini:
                    row["label"] = "official (official sizes)"
                t0 = time.perf_counter()
                try:
                    row.update(self.official(path, conf, s) if name == "official" else
                               self.ours(path, conf, s, options, name))
                    row.update(status="ok", run_s=time.perf_counter() - t0)
                except S5InputError as e:       # the other rows still run; main() ends with an error
                    row["status"] = f"FAILED: {e}"
                    self.failures.append(f"{path.name} {name}")
            results.append(row)
            print_row(row)
        official = next((r for r in results if r["row"] == "official" and r["status"] == "ok"), None)
        if official:
            for r in results:
                if r["status"] == "ok":
                    r["vs_official"] = r["items_per_s"] / official["items_per_s"]
            best = max((r for r in results if r["status"] == "ok" and r["row"] != "official"),
                       key=lambda r: r["items_per_s"], default=None)
            if best:
                verdict = ("met" if best["vs_official"] >= GOALS[kind] else "not met") if self.cuda else \
                    "a CPU run does not measure it"
                print(f"  best ours / official: {best['vs_official']:.2f}x ({best['row']}); goal of issue #26: "
                      f">= {GOALS[kind]:g}x per GPU ({verdict})")
        return results


def fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def rate(value: float) -> str:
    """At least 3 significant digits, never in exponent form (0.0263, 0.573, 57.3, 1607)."""
    return f"{value:.{max(1, 2 - math.floor(math.log10(value)))}f}" if value > 0 else "0"


def print_row(r: dict) -> None:
    if r["status"] != "ok":
        print(f"  {r['label']:46s} {r['status']}", flush=True)
        return
    print(f"  {r['label']:46s} {rate(r['items_per_s']):>8s} items/s  median step {r['median_step_s']:7.3f} s  "
          f"data wait {fmt(r['data_wait'] and 100 * r['data_wait'], '5.1f')} %  CPU {fmt(r['cpu_percent'], '5.0f')} %"
          f"  GPU {fmt(r['gpu_percent'], '5.1f')} %  items/CPU-s {rate(r['items_per_cpu_s']) if r['items_per_cpu_s'] else '-'}"
          f"  (run {r['run_s']:.0f} s)", flush=True)


def print_table(results: List[dict]) -> None:
    print("\n| config | row | items/s | median step s | data wait % | CPU % | GPU % | items/CPU-s | vs official |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["status"] != "ok":
            print(f"| {r['config']} | {r['label']} | {r['status']} | | | | | | |")
            continue
        print(f"| {r['config']} | {r['label']} | {rate(r['items_per_s'])} | {r['median_step_s']:.3f} | "
              f"{fmt(r['data_wait'] and 100 * r['data_wait'], '.1f')} | {fmt(r['cpu_percent'], '.0f')} | "
              f"{fmt(r['gpu_percent'], '.1f')} | {rate(r['items_per_cpu_s']) if r['items_per_cpu_s'] else '-'} | "
              f"{fmt(r.get('vs_official'), '.2f')} |")


@cli_main
def main() -> None:
    if "--_child" in sys.argv[1:]:
        return ours_child()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", type=Path, nargs="+", default=DEFAULT_CONFIGS, help="recipe training configs")
    ap.add_argument("--data_root", type=Path, default=None, help="folder holding dev_set/ (default: build one)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--rows", default=None, help=f"comma-separated rows of {','.join(ROWS)} (default: cuda "
                                                 f"{DEFAULT_ROWS['cuda']}, cpu {DEFAULT_ROWS['cpu']}; official "
                                                 "runs with --official only)")
    ap.add_argument("--steps", type=validate.positive_int, default=None, help="timed steps (default: cuda 20, cpu 2)")
    ap.add_argument("--warmup", type=validate.nonnegative_int, default=None,
                    help="untimed steps first (default: cuda 2 x num_workers + 2, cpu 1)")
    ap.add_argument("--batch_size", type=validate.positive_int, default=None,
                    help="items per step (default: the config's on cuda, 2 on cpu)")
    ap.add_argument("--clip_seconds", type=validate.positive_float, default=None,
                    help="scene length (default: the config's 10 s on cuda, 4 s on cpu)")
    ap.add_argument("--num_workers", type=validate.nonnegative_int, default=None,
                    help="loader workers (default: the config's)")
    ap.add_argument("--threads", type=validate.positive_int, default=None,
                    help="torch CPU threads of the training process (default: torch's)")
    ap.add_argument("--mini", type=boolean, default=False, help="true: our models at the mini sizes (CI)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--official", type=Path, default=None, help="official baseline tree with SpAudSyn")
    ap.add_argument("--official_python", default=sys.executable, help="python of that tree's environment")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--logs", type=Path, default=None,
                    help="folder (made if needed) for each row's training log: <config>_<row>.log")
    args = ap.parse_args()
    rows = parse_rows(args.rows or DEFAULT_ROWS[args.device])
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise S5InputError("--device cuda: CUDA is not available here")
    for path in args.configs:
        read_config(path)
    if args.official is not None:
        check_official_tree(args.official)
    if args.data_root is not None and not (args.data_root / "dev_set").is_dir():
        raise S5InputError(f"--data_root {args.data_root}: no dev_set/ folder in it; give the folder holding dev_set/")
    if args.logs is not None:
        try:
            args.logs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise S5InputError(f"--logs {args.logs}: cannot make the folder ({e.strerror or e})") from e
    if args.json is not None and not args.json.parent.is_dir():
        raise S5InputError(f"--json {args.json}: folder {args.json.parent} does not exist")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}"
          + (f", {torch.cuda.get_device_name()}" if args.device == "cuda" else ""), flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root
        if root is None:
            had_omp = "OMP_NUM_THREADS" in os.environ
            from synth_throughput import build_data     # sets OMP_NUM_THREADS=1 for its own timing

            if not had_omp:
                os.environ.pop("OMP_NUM_THREADS", None)

            root = Path(tmp) / "corpus"
            build_data(root, args.seed)
        bench = Bench(args, root, Path(tmp))
        for path in args.configs:
            results += bench.run_config(path, rows)
    print_table(results)
    if args.json is not None:
        args.json.write_text(json.dumps({"device": args.device, "machine": platform.processor() or platform.machine(),
                                         "cpus": os.cpu_count(), "torch": torch.__version__, "rows": results},
                                        indent=1))
    if bench.failures:
        raise S5InputError(f"{len(bench.failures)} row(s) failed: {', '.join(bench.failures)} (their reasons are "
                           "in the table above)")


if __name__ == "__main__":
    main()
