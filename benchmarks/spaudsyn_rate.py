"""Child of synth_throughput.py: times the official DatasetS3 ``generate`` path (SpAudSyn).

Runs under the official baseline's own python (it imports nothing from this project). Reads
one JSON request on stdin: {baseline, corpus_root, n, rounds, seed, config, tagger}, where
``config`` is the dataset ``config`` (mode generate, spatial_sound_scene, generator keys)
with the official ``data/dev_set/...`` paths. Works in a temp dir whose ``data`` links to
corpus_root, with the baseline tree on sys.path (the room module is
``src.modules.spatial_audio_synthesizer.room``). Prints one JSON line {cpu, wall}: mixtures
per CPU second and per wall second, medians over the rounds, after one warm-up round.
Failures print one ``ERROR:`` line on stderr and exit 2.
"""
import inspect
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(2)


def dataset_class(baseline: Path):
    """DatasetS3 from the first module under src/datamodules that defines it."""
    for path in sorted((baseline / "src/datamodules").rglob("*.py")):
        if "class DatasetS3" in path.read_text(errors="replace"):
            module = ".".join(path.relative_to(baseline).with_suffix("").parts)
            return getattr(__import__(module, fromlist=["DatasetS3"]), "DatasetS3")
    fail(f"no class DatasetS3 under {baseline / 'src/datamodules'}")


def main() -> None:
    request = json.loads(sys.stdin.read())
    baseline = Path(request["baseline"])
    sys.path.insert(0, str(baseline))
    try:
        import numpy as np
        import torch
    except ImportError as e:
        fail(f"{sys.executable} lacks the baseline's packages ({e}); give --spaudsyn_python of its environment")
    torch.set_num_threads(1)
    cls = dataset_class(baseline)
    tagger = request["tagger"]
    # the official dataset args of resunetk_capisdr.yaml / m2dat_*.yaml (baseline_spec.md)
    wanted = {"config": request["config"], "n_sources": 3, "label_set": "dcase2026t4",
              "return_source": not tagger, "label_vector_mode": "stack" if tagger else "concat",
              "silence_label_mode": "onehot" if tagger else "zeros", "return_meta": False}
    params = inspect.signature(cls).parameters
    required = [p for p, v in params.items() if v.default is inspect.Parameter.empty
                and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD) and p not in wanted]
    if required:
        fail(f"DatasetS3{inspect.signature(cls)} needs {required}, which this benchmark does not know")
    with tempfile.TemporaryDirectory() as work:
        os.symlink(request["corpus_root"], Path(work) / "data")
        os.chdir(work)
        random.seed(request["seed"])
        np.random.seed(request["seed"])
        try:
            dataset = cls(**{k: v for k, v in wanted.items() if k in params})
        except Exception as e:  # noqa: BLE001 - the official code's own error, reported in one line
            fail(f"DatasetS3(...) failed: {type(e).__name__}: {e}")
        rates = []
        for r in range(request["rounds"] + 1):
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(request["n"]):
                dataset[i]
            if r:                               # round 0: lazy imports, first file opens
                rates.append((request["n"] / (time.process_time() - cpu), request["n"] / (time.perf_counter() - wall)))
    print(json.dumps({"cpu": statistics.median(r[0] for r in rates),
                      "wall": statistics.median(r[1] for r in rates)}))


if __name__ == "__main__":
    main()
