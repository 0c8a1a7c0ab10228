"""Few-step training of both S5 tasks with espnet2's trainer (CPU)."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
import yaml

from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask

TASKS = {"tag_head_1c": S5TaggingTask, "sep_resunetk": S5SeparationTask, "sep_resunetk_iter": S5SeparationTask}


def train(task, config, exp, valid, *extra):
    task.main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                   "--ngpu", "0", "--resume", "true", *extra])


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_few_steps_leave_models_logs_and_tensorboard(tiny_setup, tiny_config, tmp_path, name):
    corpus, valid = tiny_setup
    exp = tmp_path / "exp"
    train(TASKS[name], tiny_config(name, corpus, tmp_path / "c.yaml"), exp, valid)
    for f in ("config.yaml", "checkpoint.pth", "valid.loss.best.pth", "1epoch.pth", "2epoch.pth"):
        assert (exp / f).exists(), f
    assert list((exp / "tensorboard" / "train").glob("events.out.tfevents.*"))
    stats = weights(exp / "checkpoint.pth")["reporter"]["stats"]
    assert sorted(stats) == [1, 2] and "loss" in stats[2]["valid"]
    if name.startswith("tag"):
        assert {"acc_mix", "acc_src"} <= set(stats[2]["valid"])
    if name.endswith("_iter"):   # iterative refinement: every pass's loss is logged
        assert {"loss_pass1", "loss_pass2"} <= set(stats[2]["train"]) & set(stats[2]["valid"])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_resume_gives_the_same_weights_as_one_run(tiny_setup, tiny_config, tmp_path, name):
    corpus, valid = tiny_setup
    config = tiny_config(name, corpus, tmp_path / "c.yaml")
    train(TASKS[name], config, tmp_path / "full", valid)
    # "interrupted" run: stop after epoch 1, then rerun the same command with max_epoch 2
    train(TASKS[name], config, tmp_path / "split", valid, "--max_epoch", "1")
    train(TASKS[name], config, tmp_path / "split", valid)
    a, b = weights(tmp_path / "full" / "2epoch.pth"), weights(tmp_path / "split" / "2epoch.pth")
    assert a.keys() == b.keys()
    trained = [k for k in a if not torch.equal(a[k], weights(tmp_path / "full" / "1epoch.pth")[k])]
    assert trained, "epoch 2 changed nothing: the test would be vacuous"
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", sorted(TASKS))
def test_config_round_trip_rebuilds_the_trained_model(tiny_setup, tiny_config, tmp_path, name):
    corpus, valid = tiny_setup
    exp = tmp_path / "exp"
    train(TASKS[name], tiny_config(name, corpus, tmp_path / "c.yaml", max_epoch=1), exp, valid)
    args = argparse.Namespace(**yaml.safe_load((exp / "config.yaml").read_text()))
    model = TASKS[name].build_model(args)
    model.load_state_dict(weights(exp / "valid.loss.best.pth"), strict=True)
    sd = weights(exp / "valid.loss.best.pth")
    assert all(torch.equal(v, sd[k]) for k, v in model.state_dict().items())
    x = torch.randn(1, 4, 8000)
    model.eval()
    with torch.no_grad():
        if name.startswith("tag"):
            assert model.tagger(x).shape == (1, 3, 19)
        else:
            q = torch.zeros(1, 54)
            q[0, 5] = 1
            y = model.separator.separate(x, q)
            assert y.shape == (1, 3, 1, 8000) and y[0, 1:].abs().max() == 0


def test_changed_config_in_a_used_folder_stops_and_overwrite_restarts(tiny_setup, tiny_config, tmp_path):
    from espnet2_ext.errors import S5InputError

    corpus, valid = tiny_setup
    config = tiny_config("tag_head_1c", corpus, tmp_path / "c.yaml", max_epoch=1)
    exp = tmp_path / "exp"
    train(TASKS["tag_head_1c"], config, exp, valid)
    first = weights(exp / "1epoch.pth")
    with pytest.raises(S5InputError, match=r"holds results of another training: optim_conf.lr: 0.003 -> 0.01.*"
                                           r"--overwrite true"):
        train(TASKS["tag_head_1c"], config, exp, valid, "--optim_conf", "lr=0.01")
    assert all(torch.equal(v, first[k]) for k, v in weights(exp / "1epoch.pth").items())   # untouched
    train(TASKS["tag_head_1c"], config, exp, valid, "--max_epoch", "2")            # run-time option: resumes
    assert (exp / "2epoch.pth").exists()
    train(TASKS["tag_head_1c"], config, exp, valid, "--optim_conf", "lr=0.01", "--overwrite", "true")
    stats = weights(exp / "checkpoint.pth")["reporter"]["stats"]
    assert sorted(stats) == [1] and not (exp / "2epoch.pth").exists()              # trained again from epoch 1
    ident = json.loads((exp / "identity.json").read_text())["identity"]
    assert ident["optim_conf"]["lr"] == 0.01 and ident["tagger_conf"]["weight_file"].startswith("sha256:")
