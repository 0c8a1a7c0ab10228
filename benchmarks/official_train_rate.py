"""Child of train_throughput.py: times the OFFICIAL training (its Lightning code, its DatasetS3 /
SpAudSyn loader) for a fixed number of steps.

Runs under the official baseline's own python and imports nothing from this project. Reads one
JSON request on stdin: {baseline, corpus_root, config (e.g. "label/m2dat_4c"), batch_size,
num_workers, warmup, steps, clip_seconds, device ("cpu" | "cuda"), weight_file (the M2D file of a
tagger config), seed}. Builds what ``python -m src.train -c config/<config>.yaml`` builds, from
that config (``initialize_config`` of its datamodule, lightning_module and trainer blocks, the
``deterministic`` seeding), with these changes only: the train loader's batch size and
num_workers as requested, ``dataset_length`` = (warmup + steps + 1) x batch, the scene
``duration`` / ``max_event_dur`` = clip_seconds, no validation loader, no checkpoint callback,
logger or progress bar, one device, ``max_steps`` = warmup + steps + 1. Works in a temp dir whose
``data`` links to corpus_root (the config's ``data/dev_set/...`` paths).

A callback stamps ``on_train_batch_start`` (CUDA synchronised; the batch has been fetched) and
``on_train_batch_end``. Prints one JSON line: {starts, ends, wall_starts}: perf_counter and
time.time stamps of every step. Failures print one ``ERROR:`` line on stderr and exit 2.
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def fail(message: str) -> None:
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    request = json.loads(sys.stdin.read())
    baseline = Path(request["baseline"]).resolve()
    sys.path.insert(0, str(baseline))
    try:
        import lightning.pytorch as pl
        import torch
        import yaml
        from src.utils import initialize_config
    except ImportError as e:
        fail(f"{sys.executable} lacks the baseline's packages ({e}); give --official_python of its environment")
    configs = yaml.safe_load((baseline / "config" / f"{request['config']}.yaml").read_text())
    bs, total = request["batch_size"], request["warmup"] + request["steps"] + 1
    dm = configs["datamodule"]["args"]
    dm.pop("val_dataloader", None)
    train = dm["train_dataloader"]
    train.update(batch_size=bs, num_workers=request["num_workers"])
    data_conf = train["dataset"]["args"]["config"]
    data_conf["dataset_length"] = total * bs
    scene = data_conf["spatial_sound_scene"]
    scene["duration"] = scene["max_event_dur"] = request["clip_seconds"]
    module = configs["lightning_module"]["args"]
    module["is_validation"] = False
    if request.get("weight_file"):
        module["model"]["args"]["weight_file"] = request["weight_file"]
    trainer_args = configs["train"]["trainer"]["args"]
    trainer_args.update(accelerator="gpu" if request["device"] == "cuda" else "cpu", devices=1, max_steps=total,
                        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    if request["device"] != "cuda":
        trainer_args["sync_batchnorm"] = False    # SyncBatchNorm needs a GPU; a no-op on one device anyway

    starts, ends, wall = [], [], []
    cuda = request["device"] == "cuda"

    class Clock(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if cuda:
                torch.cuda.synchronize()
            starts.append(time.perf_counter())
            wall.append(time.time())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if cuda:
                torch.cuda.synchronize()
            ends.append(time.perf_counter())

    trainer_args["callbacks"] = [Clock()]
    with tempfile.TemporaryDirectory() as work:
        os.symlink(request["corpus_root"], Path(work) / "data")
        os.chdir(work)
        if configs.get("deterministic"):
            torch.use_deterministic_algorithms(True, warn_only=True)
            pl.seed_everything(configs["manual_seed"], workers=True)
            trainer_args["deterministic"] = True
        try:
            data_module = initialize_config(configs["datamodule"])
            pl_model = initialize_config(configs["lightning_module"])
            trainer = initialize_config(configs["train"]["trainer"])
            if configs.get("deterministic"):
                torch.use_deterministic_algorithms(True, warn_only=True)
            trainer.fit(model=pl_model, datamodule=data_module)
        except Exception as e:  # noqa: BLE001 - the official code's own error, reported in one line
            fail(f"the official training failed: {type(e).__name__}: {e}")
    if len(starts) < total:
        fail(f"the official training ran {len(starts)} steps, {total} expected")
    print(json.dumps({"starts": starts, "ends": ends, "wall_starts": wall}), flush=True)


if __name__ == "__main__":
    main()
