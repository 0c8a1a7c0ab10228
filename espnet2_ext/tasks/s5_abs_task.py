"""Shared espnet2 task plumbing for the two S5 tasks (tagging and separation).

What differs between the tasks is the model (``build_model``), the data names
and how items are encoded (``label_vector_mode``); everything else lives here:

* ``--train_data_conf``: the official on-the-fly synthesis settings (the
  ``spatial_sound_scene`` block and ``config`` keys of the baseline YAMLs,
  plus ``dataset_length`` and our per-process cache sizes ``rir_cache_mb`` /
  ``source_cache_mb``); every epoch draws new mixtures,
  item ``i`` of epoch ``e`` being a pure function of ``(seed, e, i)``.
* ``--valid_data_dir``: a stage-3 data directory (``wav.scp``, ``labels``,
  ``spk{1,2,3}.scp``) holding the fixed validation mixtures.
* ``iterator_type=task``: batches come from :class:`S5IterFactory`.

Reliability: :meth:`S5AbsTask.main` and ``main_worker`` make espnet2's checkpoint writes atomic and
its loads (``--init_param``, resume, n-best averaging) code-free
(:func:`espnet2_ext.tasks.espnet_torch.install`, nothing is patched at import), training runs with :class:`S5Trainer`
(clear error on an unreadable ``checkpoint.pth``, repaired epoch files after a
resume), and the data arguments are checked before espnet2 writes anything.
Dict-valued options (``--*_conf``) are read with safe YAML only
(:mod:`espnet2_ext.tasks.safe_options`: espnet2's own action would ``eval`` them).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, ClassVar, Optional, Tuple, Type

import torch

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import read_yaml_mapping
from espnet2_ext.identity import claim_folder, file_digest
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.s5.official import m2d_weight_path
from espnet2_ext.tasks import espnet_torch
from espnet2_ext.tasks.iter_factory import S5IterFactory, s5_collate
from espnet2_ext.tasks.safe_options import NestedDictAction, SafeNestedDictAction, use_safe_dict_options
from espnet2_ext.tasks.s5_trainer import S5Trainer

AbsTask = quiet_import("espnet2.tasks.abs_task").AbsTask
str_or_none = quiet_import("espnet2.utils.types").str_or_none
str2bool = quiet_import("espnet2.utils.types").str2bool

#: options that do not change what a training produces (resources, logging, stopping,
#: resuming): left out of the training identity, so changing them resumes the folder
RUN_TIME_OPTIONS = frozenset("""
    config output_dir resume overwrite ngpu num_workers dist_backend dist_init_method dist_launcher
    dist_master_addr dist_master_port dist_rank dist_world_size local_rank multiprocessing_distributed
    unused_parameters sharded_ddp use_deepspeed deepspeed_config ddp_comm_hook gradient_as_bucket_view
    log_level log_interval use_tensorboard create_graph_in_tensorboard use_matplotlib use_wandb
    wandb_project wandb_id wandb_entity wandb_name wandb_model_log_interval print_config dry_run
    max_epoch patience early_stopping_criterion best_model_criterion keep_nbest_models
    nbest_averaging_interval num_att_plot detect_anomaly cudnn_enabled cudnn_benchmark
    cudnn_deterministic max_cache_size max_cache_fd valid_max_cache_size required save_strategy
    collect_stats write_collected_feats channels_last torch_compile
""".split())
#: train_data_conf keys that only size or place caches (not in the training identity)
CACHE_KEYS = ("rir_cache_mb", "source_cache_mb", "rir_store_dir")


#: integer options that must be >= 1 / >= 0 (espnet2 does not check a YAML value's type)
POSITIVE_OPTIONS = frozenset({"batch_size", "valid_batch_size", "max_epoch", "accum_grad", "keep_nbest_models",
                              "batch_bins", "valid_batch_bins"})
NONNEGATIVE_OPTIONS = frozenset({"num_workers", "ngpu", "seed", "patience", "log_interval"})


def check_config_yaml(parser: argparse.ArgumentParser, argv: list) -> None:
    """Check the ``--config`` YAML before espnet2 reads it: parses, is a mapping, known keys,
    values of the option's type (espnet2 takes any YAML value as is: a string batch size or a
    NaN learning rate would fail or mislead deep inside training). Errors name the file and key."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    path = pre.parse_known_args(argv)[0].config
    if path is None:
        return
    config = read_yaml_mapping(path, "config", "see egs2/dcase26t4/s5/conf/*.yaml")
    actions = {a.dest: a for a in parser._actions}
    where = f"config {path}"
    for key, value in config.items():
        if key not in actions:
            raise S5InputError(f"{where}: unrecognized arguments: {key} (from {path}); remove the key or fix "
                               f"its spelling (python -m espnet2_ext.bin.s5_tag_train --help lists the options)")
        _check_option_value(actions[key], value, where, str(key))


def _check_option_value(action: argparse.Action, value, where: str, key: str) -> None:
    kind = getattr(action.type, "__name__", "")
    fix = f"give {key} a value of the option's type (see --help)"
    if value is None:
        if action.default is not None and "none" not in kind and not isinstance(action, NestedDictAction):
            raise S5InputError(f"{where}: {key} is null; {fix}")
        return
    if isinstance(action, NestedDictAction):
        validate.typed(value, dict, where, key, fix)
        return
    # an option taking several values (nargs) may be given one value or a list
    values = list(enumerate(value)) if action.nargs is not None and isinstance(value, list) else [(None, value)]
    for i, item in values:
        name = key if i is None else f"{key}[{i}]"
        if action.type is int or kind == "int_or_none":
            lo = 1 if key in POSITIVE_OPTIONS else 0 if key in NONNEGATIVE_OPTIONS else None
            validate.number(item, where, name, integer=True, lo=lo, fix=fix)
        elif action.type is float or kind == "float_or_none":
            validate.number(item, where, name, fix=fix)
        elif kind == "str2bool":
            validate.typed(item, bool, where, name, fix)


def training_identity(args: argparse.Namespace) -> dict:
    """The effective configuration of a training, with digests instead of input model paths."""
    ident = {k: v for k, v in sorted(vars(args).items()) if k not in RUN_TIME_OPTIONS}
    ident["train_data_conf"] = {k: v for k, v in (ident.get("train_data_conf") or {}).items()
                                if k not in CACHE_KEYS and not (k == "render_on_device" and v is False)}
    ident["init_param"] = [file_digest(p.split(":")[0]) + p[len(p.split(":")[0]):]
                           for p in ident.get("init_param") or []]
    for name in ("valid_data_dir", "corpus_root"):
        if ident.get(name):
            ident[name] = str(Path(ident[name]).resolve())
    if "tagger_conf" in ident:    # the M2D weight file the tagger is built on (default: the official one)
        conf = dict(ident["tagger_conf"] or {})
        weight_file = conf.get("weight_file") or m2d_weight_path()
        conf["weight_file"] = file_digest(weight_file) if Path(weight_file).is_file() else str(weight_file)
        ident["tagger_conf"] = conf
    return ident


def log_batch_semantics(batch_size: int, world_size: int, accum_grad: int, epoch_items: int) -> str:
    """Log (and return) what one update and one epoch are under the per-rank batch convention."""
    effective = batch_size * world_size * accum_grad
    steps = -(-epoch_items // (batch_size * world_size))
    msg = (f"batch: {batch_size} items per rank x {world_size} rank(s) x accum_grad {accum_grad} = "
           f"{effective} items per update; {epoch_items} items per epoch = {steps} steps per rank "
           f"(official runs: 4 GPUs x batch_size)")
    logging.info(msg)
    return msg


def ranks_on_this_node(args: argparse.Namespace, world_size: int) -> int:
    """Training processes on this node: torchrun's LOCAL_WORLD_SIZE, else one per GPU."""
    if os.environ.get("LOCAL_WORLD_SIZE"):
        return int(os.environ["LOCAL_WORLD_SIZE"])
    return min(world_size, max(args.ngpu, 1))


class S5AbsTask(AbsTask):
    """Base class of S5 tasks: data arguments, the on-the-fly iterator, model building.

    A subclass declares its network choices (``net_choices``, e.g. ``--tagger``), the
    espnet2 wrapper that pairs the network with the loss (``espnet_model_class``) and
    how items are encoded.
    """

    num_optimizers = 1
    #: ClassChoices of the network (its name is the CLI option: --tagger / --separator)
    net_choices: ClassVar = None
    #: AbsESPnetModel subclass taking (network, loss)
    espnet_model_class: ClassVar[Type[torch.nn.Module]] = None
    trainer = S5Trainer
    #: "stack" (AT: [3, 19] one-hot with silence) or "concat" (SS: [54], silence = zeros)
    label_vector_mode: str = "stack"
    #: whether items carry the dry targets [3, 1, T]
    return_source: bool = False

    @classmethod
    def main(cls, args: Optional[argparse.Namespace] = None, cmd=None) -> None:
        """espnet2's ``AbsTask.main`` with atomic checkpoint writes and code-free loads installed first."""
        espnet_torch.install()
        if args is None:
            check_config_yaml(cls.get_parser(), sys.argv[1:] if cmd is None else list(cmd))
        super().main(args=args, cmd=cmd)

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """espnet2's worker (the process that trains; one per GPU when espnet2 spawns them),
        with :func:`espnet_torch.install` first: a spawned worker does not inherit it.

        A distributed run closes its process group when training has ended normally: left to
        interpreter exit, gloo's worker threads can abort the finished process ("terminate called
        without an active exception", exit -6; pytorch/pytorch#190489), and torchrun then fails the
        job. Not after an error: closing while other ranks still wait in a collective can hang."""
        espnet_torch.install()
        super().main_worker(args)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    @classmethod
    def get_parser(cls) -> argparse.ArgumentParser:
        """espnet2's parser with every dict-valued option read by :class:`SafeNestedDictAction`."""
        return use_safe_dict_options(super().get_parser())

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="S5 data")
        group.add_argument("--train_data_conf", action=SafeNestedDictAction, default=dict(),
                           help="On-the-fly synthesis settings (official keys: spatial_sound_scene, "
                                "nevent_range, snr_range, dupse_rate, ..., dataset_length; ours: rir_cache_mb, "
                                "source_cache_mb per data-loading process, rir_store_dir a node-wide RIR-spectrum "
                                "store shared by them, render_on_device: true to convolve "
                                "on the training device)")
        group.add_argument("--valid_data_dir", type=str_or_none, default=None,
                           help="Stage-3 data directory of the validation set (e.g. data/valid)")
        group.add_argument("--corpus_root", type=str_or_none, default=None,
                           help="Folder that holds dev_set/: the 'data/' of the config's paths "
                                "('data/dev_set/...') maps to it; default: data (relative to the "
                                "working directory, i.e. the recipe's data/)")
        group.add_argument("--overwrite", type=str2bool, default=False,
                           help="true: if --output_dir holds a training of another configuration, "
                                "delete it and start again (default: stop with an error)")
        # no attention plots (espnet2 default 3) and on-the-fly data through our iterator
        parser.set_defaults(iterator_type="task", num_att_plot=0)
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def check_required_command_args(cls, args: argparse.Namespace) -> None:
        """espnet2's checks, then ours on the data arguments (before any output is written)."""
        super().check_required_command_args(args)
        from espnet2_ext.tasks.s5_data import check_data_args

        check_data_args(args.train_data_conf, args.valid_data_dir,
                        f"config {args.config}" if args.config else "--train_data_conf")
        if args.output_dir:
            check_output_dir(args.output_dir, "--output_dir")
        if int(args.dist_rank or os.environ.get("RANK") or 0) == 0 and args.output_dir:
            claim_folder(args.output_dir, "training", training_identity(args), args.overwrite,
                         way_out="another --output_dir; in run.sh another --tag_tag / --sep_tag",
                         has_results=lambda d: (d / "config.yaml").exists())   # espnet2 writes it first

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return s5_collate

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Optional[Callable]:
        return None

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        names = ("mixture",) if inference else ("mixture", "label_vector")
        return names + (("dry_sources",) if cls.return_source and not inference else ())

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()

    @classmethod
    def data_names(cls, args: argparse.Namespace, train: bool) -> Tuple[str, ...]:
        """The item tensors a training reads: the required names, plus ``activity`` (the
        slots' frame activity) when the chosen network declares ``needs_activity`` (the SED
        tagger, the Time-FiLM separator): the baseline's data path is unchanged."""
        net = cls.net_choices.get_class(getattr(args, cls.net_choices.name))
        return cls.required_data_names(train=train) + (("activity",) if getattr(net, "needs_activity", False) else ())

    @classmethod
    def build_task_iter_factory(cls, args: argparse.Namespace, iter_options, mode: str) -> S5IterFactory:
        from espnet2_ext.tasks.s5_data import build_s5_dataset, check_loader_memory

        dataset = build_s5_dataset(
            mode=mode, train_data_conf=args.train_data_conf, valid_data_dir=args.valid_data_dir,
            corpus_root=args.corpus_root, seed=args.seed,
            label_vector_mode=cls.label_vector_mode, names=cls.data_names(args, train=mode == "train"),
        )
        rank, world = 0, 1
        if iter_options.distributed and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        if mode == "train":
            log_batch_semantics(iter_options.batch_size, world, args.accum_grad, len(dataset))
            check_loader_memory(args.train_data_conf, args.num_workers, ranks_on_this_node(args, world),
                                batch_size=iter_options.batch_size)
        return S5IterFactory(
            dataset, batch_size=iter_options.batch_size, shuffle=False,
            num_workers=args.num_workers, seed=args.seed, rank=rank, world_size=world,
            pin_memory=args.ngpu > 0, pad=mode == "train",
        )

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> torch.nn.Module:
        """network(**net_conf) + loss(**loss_conf) in the task's espnet2 wrapper.

        Under DDP, BatchNorm statistics are synchronized across GPUs, as in the
        official training (Lightning ``sync_batchnorm: True``). With
        ``train_data_conf.render_on_device`` the wrapper gets a device renderer (no
        parameters, nothing in the state dict; it reads the rooms on its first batch).
        """
        from espnet2_ext.s5.loss import loss_choices
        from espnet2_ext.tasks.s5_data import device_renderer

        name = cls.net_choices.name
        net = cls.net_choices.get_class(getattr(args, name))(**(getattr(args, f"{name}_conf", None) or {}))
        loss = loss_choices.get_class(args.loss)(**(getattr(args, "loss_conf", None) or {}))
        renderer = device_renderer(getattr(args, "train_data_conf", None), getattr(args, "corpus_root", None))
        model = cls.espnet_model_class(net, loss, renderer=renderer)
        if getattr(args, "distributed", False) and args.ngpu > 0:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model
