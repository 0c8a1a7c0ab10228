"""Two-process training (DDP on gloo, started by torchrun as on a GPU node) for both tasks.

Each run trains 2 epochs of 8 on-the-fly items (batch 2 per rank) and validates on 3
mixtures (an uneven split over 2 ranks) and checks: both ranks succeed; in every epoch
the ranks read disjoint training items that together cover the epoch, and every
validation item exactly once; the logged validation statistics equal a single-process
pass of the saved model; the saved model loads for decoding.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from espnet2_ext.s5.model_files import load_separator, load_tagger
from espnet2_ext.tasks.exact_validation import validation_means
from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask

HERE = Path(__file__).resolve().parent
N_TRAIN, N_VALID, WORLD = 8, 3, 2
TASKS = {"tag": ("tag_head_1c", S5TaggingTask), "sep": ("sep_resunetk", S5SeparationTask)}


@pytest.fixture(scope="module")
def ddp_setup(tiny_setup):
    """(corpus, valid data dir with 3 mixtures of 2 s): the suite's shared small set."""
    corpus, valid = tiny_setup
    assert len((valid / "wav.scp").read_text().splitlines()) == N_VALID
    return corpus, valid


def run_two_ranks(task: str, config: Path, exp: Path, valid: Path, record: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD),
           str(HERE / "record_items.py"), str(record), task,
           "--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid), "--ngpu", "0",
           "--multiprocessing_distributed", "false", "--dist_backend", "gloo"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def read_records(record: Path):
    """{rank: (Counter((epoch, index)) of train items, Counter(valid uid))}."""
    out = {}
    for rank in range(WORLD):
        train, valid = Counter(), Counter()
        for line in Path(f"{record}.rank{rank}").read_text().split("\n"):
            if line.startswith("train "):
                _, epoch, index = line.split()
                train[int(epoch), int(index)] += 1
            elif line.startswith("valid "):
                valid[line.split()[1]] += 1
        out[rank] = (train, valid)
    return out


@pytest.fixture(scope="module", params=sorted(TASKS))
def ddp_run(request, ddp_setup, tiny_config, tmp_path_factory):
    corpus, valid = ddp_setup
    task = request.param
    name, task_class = TASKS[task]
    tmp = tmp_path_factory.mktemp(f"ddp_{task}")
    config = tiny_config(name, corpus, tmp / "c.yaml", batch_size=2, valid_batch_size=2, max_epoch=2)
    conf = yaml.safe_load(config.read_text())
    conf["train_data_conf"]["dataset_length"] = N_TRAIN
    config.write_text(yaml.safe_dump(conf))
    exp = tmp / "exp"
    proc = run_two_ranks(task, config, exp, valid, tmp / "items")
    return SimpleNamespace(task=task, task_class=task_class, proc=proc, exp=exp, valid=valid,
                           corpus=corpus, records=tmp / "items")


def test_both_ranks_succeed(ddp_run):
    assert ddp_run.proc.returncode == 0, ddp_run.proc.stdout[-3000:] + ddp_run.proc.stderr[-5000:]
    assert "Traceback" not in ddp_run.proc.stderr
    log = ddp_run.proc.stdout + ddp_run.proc.stderr
    assert "2 items per rank x 2 rank(s) x accum_grad 1 = 4 items per update" in log
    assert (ddp_run.exp / "valid.loss.best.pth").exists() and (ddp_run.exp / "2epoch.pth").exists()


def test_ranks_read_disjoint_items_covering_each_epoch(ddp_run):
    records = read_records(ddp_run.records)
    for epoch in (1, 2):
        shares = [{i for (e, i) in records[r][0] if e == epoch} for r in range(WORLD)]
        assert not shares[0] & shares[1], f"epoch {epoch}: ranks overlap"
        assert shares[0] | shares[1] == set(range(N_TRAIN)), f"epoch {epoch}: not covered"
    valid = records[0][1] + records[1][1]
    # 2 epochs, plus nothing else: every validation item exactly once per epoch
    assert len(valid) == N_VALID and set(valid.values()) == {2}
    assert records[0][1] and records[1][1], "both ranks validate"


def test_validation_equals_a_single_process_pass_of_the_saved_model(ddp_run):
    states = torch.load(ddp_run.exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    logged = states["reporter"]["stats"][2]["valid"]
    args = argparse.Namespace(**yaml.safe_load((ddp_run.exp / "config.yaml").read_text()))
    model = ddp_run.task_class.build_model(args)
    model.load_state_dict(torch.load(ddp_run.exp / "2epoch.pth", map_location="cpu"))
    factory = ddp_run.task_class.build_task_iter_factory(
        args, SimpleNamespace(batch_size=N_VALID, distributed=False), "valid")
    single, count = validation_means(model, factory.build_iter(2), "cpu")
    assert count == N_VALID
    for key, value in single.items():
        assert logged[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    if ddp_run.task == "tag":
        assert logged["acc_src"] == pytest.approx(
            single["src_tp"] / (single["src_tp"] + single["src_err"]) if single["src_tp"] + single["src_err"] else 1.0)


def test_saved_model_loads_for_decoding(ddp_run):
    best = ddp_run.exp / "valid.loss.best.pth"
    if ddp_run.task == "tag":
        tagger = load_tagger(best)
        assert tagger(torch.zeros(1, 4, 32000)).shape == (1, 3, 19)
    else:
        separator = load_separator(best)
        assert separator.separate(torch.zeros(1, 4, 8000), torch.zeros(1, 54)).shape == (1, 3, 1, 8000)


def test_recipe_train_sh_runs_two_cpu_processes(ddp_setup, tiny_config, tmp_path, recipe_dir):
    """The recipe's own path: ``local/train.sh --cpu_procs 2`` (what ``run.sh --cpu_procs 2`` calls)."""
    corpus, valid = ddp_setup
    config = tiny_config("tag_head_1c", corpus, tmp_path / "c.yaml", max_epoch=1)
    exp = tmp_path / "exp"
    cmd = ["bash", "-c", ". ./path.sh && local/train.sh --task tag --cpu_procs 2 --config \"$1\" "
           "--exp \"$2\" --valid_data_dir \"$3\"", "train", str(config), str(exp), str(valid)]
    res = subprocess.run(cmd, cwd=recipe_dir, capture_output=True, text=True, timeout=900)
    log = (exp / "train.log").read_text()
    assert res.returncode == 0, res.stderr[-3000:] + log[-3000:]
    assert "2 items per rank x 2 rank(s)" in log and re.search(r"\[[^\]]*:0/2\]", log)   # rank 0 of 2
    assert (exp / "valid.loss.best.pth").exists() and (exp / "learning_figures.txt").exists()

    bad = subprocess.run(["bash", "-c", ". ./path.sh && local/train.sh --task tag --cpu_procs 2 --ngpu 1 "
                          "--config \"$1\" --exp \"$2\" --valid_data_dir \"$3\"", "train", str(config),
                          str(tmp_path / "exp2"), str(valid)], cwd=recipe_dir, capture_output=True, text=True)
    assert bad.returncode == 2 and "ERROR: --cpu_procs 2 trains on CPUs" in bad.stderr
    assert not (tmp_path / "exp2").exists()


def test_the_worker_closes_its_process_group_after_training_not_after_an_error(monkeypatch, tmp_path):
    """Left open to interpreter exit, a gloo group can abort a finished rank (exit -6, "terminate
    called without an active exception"); closing it after an error could hang the other ranks."""
    from espnet2.tasks.abs_task import AbsTask

    def init():
        store = torch.distributed.FileStore(str(tmp_path / f"store{len(list(tmp_path.iterdir()))}"), 1)
        torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)

    monkeypatch.setattr(AbsTask, "main_worker", classmethod(lambda cls, args: None))   # training that ends
    init()
    S5TaggingTask.main_worker(argparse.Namespace())
    assert not torch.distributed.is_initialized()

    def fail(cls, args):
        raise RuntimeError("a rank failed")

    monkeypatch.setattr(AbsTask, "main_worker", classmethod(fail))
    init()
    try:
        with pytest.raises(RuntimeError, match="a rank failed"):
            S5SeparationTask.main_worker(argparse.Namespace())
        assert torch.distributed.is_initialized()
    finally:
        torch.distributed.destroy_process_group()
