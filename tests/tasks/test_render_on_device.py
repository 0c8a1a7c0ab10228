"""``train_data_conf.render_on_device: true`` through espnet2's trainer: one process (the
same training losses as rendering in the data loader, up to float32 rounding) and two DDP
ranks (each renders its own batches inside the wrapper)."""
from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys

import pytest
import torch
import yaml

from espnet2_ext.tasks.s5_abs_task import training_identity
from espnet2_ext.tasks.s5_sep import S5SeparationTask


def with_option(config, on: bool, **over):
    conf = yaml.safe_load(config.read_text())
    conf["train_data_conf"]["render_on_device"] = on
    conf.update(over)
    config.write_text(yaml.safe_dump(conf))
    return config


def train_losses(exp):
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]
    return [stats[e]["train"]["loss"] for e in sorted(stats)]


def test_training_losses_equal_rendering_in_the_loader(tiny_setup, tiny_config, tmp_path, caplog):
    corpus, valid = tiny_setup
    caplog.set_level(logging.INFO, logger="espnet2_ext.synth.torch_render")
    losses = {}
    for on in (False, True):
        config = with_option(tiny_config("sep_resunetk", corpus, tmp_path / f"{on}.yaml", max_epoch=1), on)
        exp = tmp_path / f"exp_{on}"
        S5SeparationTask.main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                                   "--ngpu", "0"])
        losses[on] = train_losses(exp)
    # float32 rounding of the two renderers; abs too, as a mean of dB values can be near 0
    assert losses[True] == pytest.approx(losses[False], rel=1e-4, abs=1e-5)
    assert "rendering the training batches on cpu" in caplog.text    # the option took effect


def test_the_option_off_is_the_same_training_as_without_the_key():
    def identity(**extra):
        return training_identity(argparse.Namespace(train_data_conf={"dataset_length": 4, **extra}, init_param=None))

    assert identity(render_on_device=False) == identity() != identity(render_on_device=True)
    # where the caches live and how large they are is not the training: a run resumes with another
    assert identity(rir_store_dir="/tmp/store", rir_cache_mb=0, source_cache_mb=1) == identity()


def test_two_ddp_ranks_render_their_own_batches(tiny_setup, tiny_config, tmp_path):
    corpus, valid = tiny_setup
    config = with_option(tiny_config("sep_resunetk", corpus, tmp_path / "c.yaml", max_epoch=1), True)
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "espnet2_ext.bin.s5_sep_train", "--config", str(config), "--output_dir", str(exp),
           "--valid_data_dir", str(valid), "--ngpu", "0", "--multiprocessing_distributed", "false",
           "--dist_backend", "gloo"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Traceback" not in log, log[-5000:]
    assert "2 items per rank x 2 rank(s)" in log and "rendering the training batches on cpu" in log
    assert (exp / "valid.loss.best.pth").exists()
    assert all(math.isfinite(loss) for loss in train_losses(exp))
