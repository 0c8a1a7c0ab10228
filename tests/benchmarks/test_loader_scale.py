"""benchmarks/loader_scale.py on a tiny full-scale corpus: what it measures, not how fast."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from espnet2_ext.corpus.full_scale import FullScaleConfig, build_full_corpus

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "loader_scale.py"


@pytest.fixture(scope="module")
def loader_scale():
    spec = importlib.util.spec_from_file_location("loader_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    cfg = FullScaleConfig.at_scale(0.05, rir_len=1024, n_positions=8, noise_seconds=2.0, clip_seconds=(0.3, 1.0),
                                   interference_classes=("Bus", "Drip"), n_valid=1, n_test=1, n_eval=0)
    return build_full_corpus(tmp_path_factory.mktemp("loader") / "corpus", cfg, progress=False)


def test_measure_builds_the_training_loader_and_sees_each_worker(loader_scale, tiny_corpus):
    r = loader_scale.measure(tiny_corpus, num_workers=2, batches=2, batch_size=2,
                             config=loader_scale.DEFAULT_CONFIG)
    assert r["files"] == {"targets": 180, "interference": 2, "noise": 2, "rooms": 1}
    assert r["items"] == 4 and r["num_workers"] == 2
    assert len(r["worker_peak_rss_mb"]) == 2 and min(r["worker_peak_rss_mb"]) > 0
    assert all(0 < p <= v for p, v in zip(r["worker_private_mb"], r["worker_peak_rss_mb"]))
    assert (r["rir_cache_mb"], r["source_cache_mb"]) == (512.0, 128.0)     # tag_head_4c sets neither
    assert 0 < r["first_batch_s"] <= r["epoch_s"] and r["mixtures_per_s"] == pytest.approx(4 / r["epoch_s"])
    row = dict(r, scale=0.05, gb=0.03)
    lines = loader_scale.table([row]).splitlines()
    assert len(lines) == 3 and lines[2].startswith("| 0.05 | 180 + 2 / 2 / 1 | 0.0 | 2 |")


def test_proc_readers_see_this_process(loader_scale):
    import os

    assert loader_scale.proc_kb(os.getpid(), ("VmHWM",)) > 0
    assert loader_scale.proc_kb(os.getpid(), ("Private_Clean", "Private_Dirty"), "smaps_rollup") > 0
    assert loader_scale.proc_kb(2 ** 22 + 7, ("VmHWM",)) == 0            # no such process
