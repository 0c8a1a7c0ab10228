"""Stage 5 with ``--official_resume true``: the stage-4 optimizer state and epoch counter
are carried over, and the configured stage-5 epochs are trained after that counter."""
from __future__ import annotations

import json

import torch
import yaml

from espnet2_ext.bin.s5_stage5_init import prepare
from espnet2_ext.tasks.s5_tag import S5TaggingTask
from espnet2_ext.tasks.s5_trainer import CARRIED_EPOCH_FILE


def train(config, exp, valid, *extra):
    S5TaggingTask.main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                            "--ngpu", "0", "--resume", "true", *extra])


def states(exp):
    return torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)


def adam_steps(state: dict, exp) -> dict:
    """{parameter name: AdamW step count} of the checkpoint's optimizer."""
    names = [n for n, _ in S5TaggingTask.build_model(
        __import__("argparse").Namespace(**yaml.safe_load((exp / "config.yaml").read_text()))).named_parameters()]
    opt = state["optimizers"][0]
    order = opt["param_groups"][0]["params"]
    return {names[i]: int(opt["state"][i]["step"]) for i in order if i in opt["state"]}


def trained_stage4(tiny_setup, tiny_config, tmp_path, max_epoch):
    """(valid dir, head config, blocks config, stage-4 exp, stage-5 exp) after training stage 4."""
    corpus, valid = tiny_setup
    head_conf = tiny_config("tag_head_1c", corpus, tmp_path / "head.yaml", max_epoch=max_epoch)
    blocks_conf = tiny_config("tag_blocks_1c", corpus, tmp_path / "blocks.yaml", max_epoch=max_epoch)
    head, blocks = tmp_path / "tag_head", tmp_path / "tag_blocks"
    train(head_conf, head, valid)
    return valid, head_conf, blocks_conf, head, blocks


def test_official_resume_trains_after_the_carried_counter_with_the_stage4_optimizer(tiny_setup, tiny_config, tmp_path):
    valid, head_conf, blocks_conf, head, blocks = trained_stage4(tiny_setup, tiny_config, tmp_path, 2)
    stage4 = states(head)
    assert stage4["reporter"]["epoch"] == 2

    init = prepare(head, blocks, official_resume=True)
    assert json.loads((blocks / CARRIED_EPOCH_FILE).read_text())["carried_epoch"] == 2
    train(blocks_conf, blocks, valid, "--init_param", str(init))

    stage5 = states(blocks)
    assert sorted(stage5["reporter"]["stats"]) == [3, 4]              # 2 stage-5 epochs after epoch 2
    assert (blocks / "valid.loss.best.pth").exists() and (blocks / "4epoch.pth").exists()
    assert not (blocks / "2epoch.pth").exists()                       # nothing written for stage-4 epochs
    head_lr = yaml.safe_load(head_conf.read_text())["optim_conf"]["lr"]
    blocks_lr = yaml.safe_load(blocks_conf.read_text())["optim_conf"]["lr"]
    assert head_lr != blocks_lr
    assert stage5["optimizers"][0]["param_groups"][0]["lr"] == head_lr  # the official effective lr
    steps4, steps5 = adam_steps(stage4, head), adam_steps(stage5, blocks)
    steps_per_epoch = 2                                               # 4 items, batch 2
    head_params = [n for n in steps4 if ".head." in n or n.startswith("tagger.head")]
    assert head_params and all(steps5[n] == steps4[n] + 2 * steps_per_epoch for n in head_params)
    new = set(steps5) - set(steps4)                                   # the 2 unfrozen blocks
    assert new and all(steps5[n] == 2 * steps_per_epoch for n in new)

    # a rerun resumes, and finds the stage finished
    train(blocks_conf, blocks, valid, "--init_param", str(init))
    assert sorted(states(blocks)["reporter"]["stats"]) == [3, 4]


def test_default_stage5_starts_fresh_at_its_own_lr(tiny_setup, tiny_config, tmp_path):
    valid, head_conf, blocks_conf, head, blocks = trained_stage4(tiny_setup, tiny_config, tmp_path, 1)
    (blocks).mkdir()
    (blocks / CARRIED_EPOCH_FILE).write_text('{"carried_epoch": 7}')   # stale record of an older run
    init = prepare(head, blocks, official_resume=False)
    assert not (blocks / CARRIED_EPOCH_FILE).exists()
    train(blocks_conf, blocks, valid, "--init_param", str(init))
    stage5 = states(blocks)
    assert sorted(stage5["reporter"]["stats"]) == [1]
    assert stage5["optimizers"][0]["param_groups"][0]["lr"] == yaml.safe_load(blocks_conf.read_text())["optim_conf"]["lr"]
