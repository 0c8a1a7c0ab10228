"""--channels_last and --torch_compile: off by default, in --help, applied to the training model
in place (checkpoint names unchanged), not part of the training identity."""
from __future__ import annotations

import argparse

import pytest
import torch

from espnet2_ext.tasks.s5_abs_task import RUN_TIME_OPTIONS
from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask
from espnet2_ext.tasks.speed_options import SPEED_OPTIONS, apply_speed_options


@pytest.mark.parametrize("task", [S5TaggingTask, S5SeparationTask])
def test_options_parse_default_off_and_are_documented(task):
    parser = task.get_parser()
    defaults = parser.parse_args([])
    assert defaults.channels_last is False and defaults.torch_compile is False
    on = parser.parse_args(["--channels_last", "true", "--torch_compile", "true"])
    assert on.channels_last is True and on.torch_compile is True
    text = parser.format_help()
    assert "--channels_last" in text and "--torch_compile" in text and "--use_amp" in text
    assert set(SPEED_OPTIONS) <= RUN_TIME_OPTIONS


class Wrapper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.separator = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU())
        self.loss = torch.nn.Identity()

    def forward(self, x):
        return self.separator(x)


def test_apply_converts_and_compiles_in_place():
    model = Wrapper()
    keys, params = list(model.state_dict()), list(model.parameters())
    apply_speed_options(model, "separator", argparse.Namespace(channels_last=False, torch_compile=False))
    assert model.separator[0].weight.is_contiguous()
    apply_speed_options(model, "separator", argparse.Namespace(channels_last=True, torch_compile=True))
    assert model.separator[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model.separator._compiled_call_impl is not None
    assert list(model.state_dict()) == keys                     # checkpoints keep their names
    assert all(a is b for a, b in zip(model.parameters(), params))   # optimizers see the same parameters
