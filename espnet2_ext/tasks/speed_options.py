"""Training-speed options of the S5 tasks: ``--channels_last`` and ``--torch_compile``.

Both are off by default, written to ``config.yaml`` like every option, and change how the
training computes, not what it computes (up to float rounding, as a cuDNN algorithm choice
does), so changing them does not make a training folder a different training (they are in
``RUN_TIME_OPTIONS`` of :mod:`espnet2_ext.tasks.s5_abs_task`).

* ``--channels_last true``: the network's 4-D weights (convolutions) in the channels-last
  memory format, so its convolutions run on NHWC activations (faster kernels on GPUs with
  tensor cores, in particular under ``--use_amp``).
* ``--torch_compile true``: the network (``tagger`` / ``separator``, not the loss or the
  device renderer, whose Python loops would break the graph) is compiled in place with
  ``torch.compile`` (``nn.Module.compile``: the state dict keeps its names, so checkpoints
  are unchanged). The first steps take longer (compilation).

Bf16 autocast is espnet2's ``--use_amp true`` (CUDA only: espnet2 autocasts on CUDA, with
bfloat16 where the GPU supports it). The options are applied to the training model only,
where espnet2 hands it to the optimizers (after moving it to its device), so models built
for inference from a ``config.yaml`` (``build_model_from_file``) are not compiled.
"""
from __future__ import annotations

import argparse
import logging
from typing import List

import torch

from espnet2_ext.espnet_compat import quiet_import

str2bool = quiet_import("espnet2.utils.types").str2bool

#: the options, for RUN_TIME_OPTIONS
SPEED_OPTIONS = ("channels_last", "torch_compile")


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(description="S5 training speed (see espnet2_ext/tasks/speed_options.py)")
    group.add_argument("--channels_last", type=str2bool, default=False,
                       help="true: the network's convolution weights (and so its activations) in the "
                            "channels-last memory format (default false)")
    group.add_argument("--torch_compile", type=str2bool, default=False,
                       help="true: compile the network with torch.compile (in place: checkpoints unchanged; the "
                            "first steps are slower). Bf16 autocast: --use_amp true (CUDA only). Default false")


def apply_speed_options(model: torch.nn.Module, net_name: str, args: argparse.Namespace) -> None:
    """Apply ``--channels_last`` / ``--torch_compile`` to the training model in place."""
    net = getattr(model, net_name)
    if getattr(args, "channels_last", False):
        net.to(memory_format=torch.channels_last)
        logging.info("--channels_last: %s weights in the channels-last memory format", net_name)
    if getattr(args, "torch_compile", False):
        net.compile()
        logging.info("--torch_compile: %s compiled with torch.compile (the first steps compile it)", net_name)


class SpeedOptionsMixin:
    """Adds the speed options to an S5 task (put it before the task base class)."""

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_task_arguments(parser)
        add_speed_arguments(parser)

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> List[torch.optim.Optimizer]:
        """espnet2 calls this with the training model on its device: apply the options, then
        build the optimizers (the parameters stay the same objects)."""
        apply_speed_options(model, cls.net_choices.name, args)
        return super().build_optimizers(args, model)
