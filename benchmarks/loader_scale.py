"""The training data loader at scale: mixtures/s, peak memory per worker and start-up time vs corpus size.

    python benchmarks/loader_scale.py [--workdir /tmp/loader_scale] [--scales 0.125 0.5 1]
        [--num_workers 1 2] [--batches 4] [--batch_size 32] [--keep false]

For each scale, builds the full-scale synthetic corpus (``python -m espnet2_ext.bin.s5_full_corpus
--scale S``: at 1, 5,402 clips, 56 noise files of 60 s, 10 rooms x 108 positions x 174,763 taps),
then, for each worker count, runs a fresh process that builds the loader exactly as training does:
``S5TaggingTask.get_parser()`` on conf/tuning/tag_head_4c.yaml (the official generate settings;
``--corpus_root`` the corpus, ``dataset_length`` = batches x batch_size) and
``S5TaggingTask.build_iter_factory(args, ..., "train")`` (GenerateDataset: catalog scan, SOFA
listing; check_loader_memory; the task's collate), then iterates epoch 1. It measures

* catalog scan: the factory build (listing every class folder, noise and room file);
* first batch: from ``build_iter`` to the first batch (worker start + batch_size mixtures);
* mixtures/s: all items of the epoch / time from ``build_iter`` to the last batch;
* peak RSS per worker: the largest ``VmHWM`` (/proc/<pid>/status) of the DataLoader worker
  processes, sampled every 0.1 s; also their largest private memory (``Private_Clean +
  Private_Dirty`` of smaps_rollup), since a forked worker's RSS includes the pages it still
  shares with the training process (torch, the model code, the catalog);
* the measuring process's own peak RSS (it holds the catalog and collates the batches).

The corpus is deleted after its scale unless --keep. Prints one JSON line per measurement, then
a markdown table; ``--tables_from LOG ...`` prints the table of the JSON lines of earlier runs
(e.g. scales measured in separate runs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

from espnet2_ext import validate
from espnet2_ext.errors import cli_main

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "tuning" / "tag_head_4c.yaml"
RESULT_PREFIX = "RESULT "


# ----------------------------------------------------------------------------- /proc readers
def proc_kb(pid: int, fields: Tuple[str, ...], table: str = "status") -> int:
    """Sum of ``kB`` fields of /proc/<pid>/<table> (0 if the process is gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/{table}") as f:
            for line in f:
                if line.split(":")[0] in fields:
                    total += int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return total


def child_pids(pid: int) -> List[int]:
    """Direct children of ``pid`` (all its threads)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class WorkerMemory:
    """Samples the peak RSS (VmHWM) and the largest private memory (Private_Clean + Private_Dirty
    of smaps_rollup: pages not shared with the parent) of this process's children."""

    def __init__(self, interval_s: float = 0.1):
        self.peak_kb: Dict[int, int] = {}
        self.private_kb: Dict[int, int] = {}
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in child_pids(os.getpid()):
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), proc_kb(pid, ("VmHWM",)))
                private = proc_kb(pid, ("Private_Clean", "Private_Dirty"), "smaps_rollup")
                self.private_kb[pid] = max(self.private_kb.get(pid, 0), private)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "WorkerMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- one measurement
def measure(corpus: Path, num_workers: int, batches: int, batch_size: int, config: Path) -> dict:
    """Build the training loader like espnet2 does and time one epoch of ``batches`` batches."""
    from espnet2.train.distributed_utils import DistributedOption

    from espnet2_ext.tasks.s5_data import cache_sizes_mb
    from espnet2_ext.tasks.s5_tag import S5TaggingTask

    args = S5TaggingTask.get_parser().parse_args([
        "--config", str(config), "--corpus_root", str(corpus), "--num_workers", str(num_workers),
        "--batch_size", str(batch_size)])
    args.train_data_conf["dataset_length"] = batches * batch_size
    t0 = time.perf_counter()
    factory = S5TaggingTask.build_iter_factory(args, DistributedOption(distributed=False), "train")
    scan_s = time.perf_counter() - t0
    sampler = factory.dataset.base.sampler
    files = {"targets": sum(map(len, sampler.fg.files.values())),
             "interference": sum(map(len, sampler.interf.files.values())) if sampler.interf else 0,
             "noise": sum(map(len, sampler.bg.files.values())) if sampler.bg else 0,
             "rooms": len(sampler.room_files)}
    arrivals = []
    with WorkerMemory() as memory:
        t1 = time.perf_counter()
        for uids, batch in factory.build_iter(1):
            arrivals.append(time.perf_counter() - t1)
            assert batch["mixture"].shape == (len(uids), 4, 320000), batch["mixture"].shape
    n_items = batches * batch_size
    rir_mb, source_mb = cache_sizes_mb(args.train_data_conf)
    return {"num_workers": num_workers, "files": files, "scan_s": scan_s, "first_batch_s": arrivals[0],
            "epoch_s": arrivals[-1], "mixtures_per_s": n_items / arrivals[-1], "items": n_items,
            "worker_peak_rss_mb": sorted(v / 1024 for v in memory.peak_kb.values()),
            "worker_private_mb": sorted(v / 1024 for v in memory.private_kb.values()),
            "main_peak_rss_mb": proc_kb(os.getpid(), ("VmHWM",)) / 1024,
            "rir_cache_mb": rir_mb, "source_cache_mb": source_mb, "loadavg": os.getloadavg()[0]}


# ----------------------------------------------------------------------------- the sweep
def run(cmd: List[str]) -> str:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"ERROR: {' '.join(cmd)} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return res.stdout


def make_corpus(out: Path, scale: float) -> dict:
    t0 = time.perf_counter()
    run([sys.executable, "-m", "espnet2_ext.bin.s5_full_corpus", "--outdir", str(out), "--scale", str(scale),
         "--progress", "false"])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"build_s": time.perf_counter() - t0, "gb": size / 1e9}


def sweep(args: argparse.Namespace) -> List[dict]:
    from espnet2_ext.corpus.full_scale import remove_corpus

    rows = []
    args.workdir.mkdir(parents=True, exist_ok=True)
    for scale in args.scales:
        corpus = args.workdir / f"full_scale_{scale:g}"
        built = make_corpus(corpus, scale)
        print(f"scale {scale:g}: corpus {built['gb']:.2f} GB built in {built['build_s']:.0f} s", flush=True)
        try:
            for nw in args.num_workers:
                out = run([sys.executable, __file__, "--measure", str(corpus), "--num_workers", str(nw),
                           "--batches", str(args.batches), "--batch_size", str(args.batch_size),
                           "--config", str(args.config)])
                result = json.loads(next(line[len(RESULT_PREFIX):] for line in out.splitlines()
                                         if line.startswith(RESULT_PREFIX)))
                result.update(scale=scale, **built)
                print(json.dumps(result), flush=True)
                rows.append(result)
        finally:
            if not args.keep:
                remove_corpus(corpus)
    return rows


def read_rows(logs: List[Path]) -> List[dict]:
    """The result rows that :func:`sweep` printed (one JSON object per line) in ``logs``."""
    rows = [json.loads(line) for log in logs for line in log.read_text().splitlines() if line.startswith("{")]
    if not rows:
        sys.exit(f"ERROR: --tables_from {' '.join(map(str, logs))}: no result lines (JSON objects) found")
    return rows


def table(rows: List[dict]) -> str:
    head = ("| scale | train catalog: clips (targets + interference) / noise files / rooms | corpus GB | num_workers "
            "| catalog scan s | first batch s | mixtures/s | peak RSS per worker MB (private) "
            "| main process peak RSS MB | load avg |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        f = r["files"]
        workers = ", ".join(f"{p:.0f} ({a:.0f})" for p, a in zip(r["worker_peak_rss_mb"], r["worker_private_mb"]))
        lines.append(f"| {r['scale']:g} | {f['targets']} + {f['interference']} / {f['noise']} / {f['rooms']} "
                     f"| {r['gb']:.1f} | {r['num_workers']} | {r['scan_s']:.2f} | {r['first_batch_s']:.1f} "
                     f"| {r['mixtures_per_s']:.2f} | {workers} | {r['main_peak_rss_mb']:.0f} | {r['loadavg']:.1f} |")
    return "\n".join(lines)


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/loader_scale"), help="where corpora are built")
    p.add_argument("--scales", type=validate.positive_float, nargs="+", default=[0.125, 0.5, 1.0])
    p.add_argument("--num_workers", type=validate.nonnegative_int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=validate.positive_int, default=4, help="batches per measurement (the epoch)")
    p.add_argument("--batch_size", type=validate.positive_int, default=32, help="items per batch (tag_head_4c: 32)")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config (train_data_conf)")
    p.add_argument("--keep", action="store_true", help="keep the corpora")
    p.add_argument("--tables_from", type=Path, nargs="+", default=None,
                   help="print the table of the result lines (JSON) in these logs of earlier runs, and exit")
    p.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)   # internal: one run
    args = p.parse_args()
    if args.measure is not None:
        nw = args.num_workers[0]
        print(RESULT_PREFIX + json.dumps(measure(args.measure, nw, args.batches, args.batch_size, args.config)))
        return
    rows = read_rows(args.tables_from) if args.tables_from else sweep(args)
    r = rows[0]
    print(f"\ncaches per process: rir_cache_mb {r['rir_cache_mb']:g}, source_cache_mb {r['source_cache_mb']:g} "
          f"(train_data_conf defaults); {r['items']} mixtures per measurement "
          f"({r['items'] // args.batch_size} batches of {args.batch_size})\n")
    print(table(rows))


if __name__ == "__main__":
    main()
