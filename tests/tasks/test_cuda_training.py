"""Training on CUDA through espnet2's trainer (skipped where no GPU is present).

Both tasks train one epoch with ``--ngpu 1``, in float32 and with ``--use_amp true``
(espnet2's CUDA autocast, bf16 where the GPU supports it); the losses are finite, the
saved model loads on CPU for decoding. ``render_on_device`` on CUDA gives the same
first-step training loss as rendering in the data loader, up to float32 rounding (one step:
after an update, Adam's sign-like first step and cuDNN's non-deterministic backward let two
runs drift apart even from equal inputs).
"""
from __future__ import annotations

import logging
import math

import pytest
import torch
import yaml

from espnet2_ext.s5.model_files import load_separator, load_tagger
from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

TASKS = {"tag": ("tag_head_4c", S5TaggingTask), "sep": ("sep_resunetk", S5SeparationTask)}


def train_losses(exp):
    stats = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]
    return [stats[e]["train"]["loss"] for e in sorted(stats)]


def train(task, config, exp, valid, *extra):
    TASKS[task][1].main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                             "--ngpu", "1", *extra])


@pytest.mark.parametrize("amp", [False, True], ids=["float32", "amp"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_one_epoch_on_cuda(task, amp, tiny_setup, tiny_config, tmp_path):
    corpus, valid = tiny_setup
    config = tiny_config(TASKS[task][0], corpus, tmp_path / "c.yaml", max_epoch=1)
    exp = tmp_path / "exp"
    train(task, config, exp, valid, "--use_amp", str(amp).lower())
    assert all(math.isfinite(loss) for loss in train_losses(exp))
    best = exp / "valid.loss.best.pth"
    if task == "tag":
        assert load_tagger(best)(torch.zeros(1, 4, 32000)).shape == (1, 3, 19)
    else:
        assert load_separator(best).separate(torch.zeros(1, 4, 8000), torch.zeros(1, 54)).shape == (1, 3, 1, 8000)


def test_render_on_device_on_cuda_equals_rendering_in_the_loader(tiny_setup, tiny_config, tmp_path, monkeypatch,
                                                                 caplog):
    corpus, valid = tiny_setup
    caplog.set_level(logging.INFO, logger="espnet2_ext.synth.torch_render")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    losses = {}
    for on in (False, True):
        config = tiny_config("sep_resunetk", corpus, tmp_path / f"{on}.yaml", max_epoch=1)
        conf = yaml.safe_load(config.read_text())
        conf["train_data_conf"].update(render_on_device=on, dataset_length=2)    # one step of batch 2
        config.write_text(yaml.safe_dump(conf))
        train("sep", config, tmp_path / f"exp_{on}", valid)
        losses[on] = train_losses(tmp_path / f"exp_{on}")
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
    assert "rendering the training batches on cuda" in caplog.text    # the option took effect
