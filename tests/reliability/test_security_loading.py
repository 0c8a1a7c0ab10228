"""Security catalogue: model files never run code (see reliability_cases.SECURITY_CASES).

Every model-like file we read is loaded with ``torch.load(weights_only=True)`` and a minimal
allow-list (``espnet2_ext.s5.checkpoints.load_torch_file``). The attacks are pickles whose
``__reduce__`` would create a marker file (``os.system('touch ...')``, ``subprocess.call``),
saved where each tool reads a model file. Each must stop with one ``ERROR:`` line naming the
file and the refused object, a non-zero exit, and no marker. The last tests check that the
files we really read (official Lightning checkpoints, M2D weights, espnet2's ``checkpoint.pth``)
still load and resume.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import yaml

from espnet2_ext.bin import s5_inference, s5_stage5_init, s5_train_summary
from espnet2_ext.s5.checkpoints import RefusedModelFile, load_torch_file, read_checkpoint
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS
from reliability_cases import covers
from reliability_tools import decode_args, expect_error, listing, train, train_args

#: how each payload is named in the refusal (the pickle's global, in Python 3 spelling)
SYSTEM, CALL = "posix.system", "subprocess.call"


class Payload:
    """Pickles as a call that creates ``marker``: ``os.system('touch ...')`` or ``subprocess.call``."""

    def __init__(self, marker: Path, how: str = SYSTEM) -> None:
        self.marker, self.how = Path(marker), how

    def __reduce__(self):
        if self.how == SYSTEM:
            return os.system, (f"touch '{self.marker}'",)
        return subprocess.call, (["touch", str(self.marker)],)


def craft(path: Path, content: object) -> Path:
    """``torch.save(content, path)`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content, path)
    return path


def lightning_extras(state_dict: dict, best_score: object) -> dict:
    """An official Lightning checkpoint around ``state_dict``, with what Lightning 2.x writes
    beside it (``best_score``: the ModelCheckpoint callback's best score)."""
    progress = {"total": {"ready": 4, "completed": 4}, "current": {"ready": 2, "completed": 2}}
    return {
        "epoch": 1, "global_step": 4, "pytorch-lightning_version": "2.6.6",
        "state_dict": OrderedDict(state_dict),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": 4},
                               "epoch_loop.scheduler_progress": progress}},
        "callbacks": {"ModelCheckpoint{'monitor': 'epoch_val/loss', 'mode': 'min', 'every_n_train_steps': 0, "
                      "'every_n_epochs': 1, 'train_time_interval': None}": {
                          "monitor": "epoch_val/loss", "best_model_score": best_score,
                          "best_model_path": "workspace/checkpoints/epoch=1.ckpt", "current_score": torch.tensor(0.5),
                          "dirpath": "workspace/checkpoints", "best_k_models": {"epoch=1.ckpt": torch.tensor(0.5)},
                          "kth_best_model_path": "epoch=1.ckpt", "kth_value": torch.tensor(0.5),
                          "last_model_path": "workspace/checkpoints/last.ckpt"},
                      "EarlyStopping{'monitor': 'epoch_val/loss', 'mode': 'min'}": {
                          "wait_count": 0, "stopped_epoch": 0, "best_score": torch.tensor(0.5), "patience": 3}},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(4.0), "exp_avg": torch.zeros(3),
                                            "exp_avg_sq": torch.zeros(3), "max_exp_avg_sq": torch.zeros(3)}},
                              "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                                "amsgrad": True, "foreach": None, "params": [0]}]}],
        "lr_schedulers": [{"step_size": 1, "gamma": 0.1, "base_lrs": [1e-3], "last_epoch": 2, "_last_lr": [1e-5]}],
    }


@pytest.fixture
def marker(tmp_path) -> Path:
    """Where a payload would leave its trace; every test checks that it does not exist."""
    path = tmp_path / "MARKER"
    yield path
    assert not path.exists(), "the crafted file ran code"


def refused(message: str, path: Path, what: str) -> None:
    assert f"refused to load {path}: it asks for the Python object '{what}'" in message, message
    assert "could run code" in message and "sources you trust" in message


def error_line_of_training(log: Path, returncode: int) -> str:
    """The one ``ERROR:`` line of a failed training subprocess (exit status 2)."""
    text = log.read_text()
    assert returncode == 2, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, text[-3000:]
    return errors[0]


# ====================================================================== the attacks are live
@pytest.mark.parametrize("how", [SYSTEM, CALL])
def test_the_crafted_files_run_their_payload_when_loaded_unsafely(tmp_path, how):
    """What the tests below refuse really is an attack: ``weights_only=False`` runs it."""
    path = craft(tmp_path / "model.pth", {"state_dict": {"w": Payload(tmp_path / "RAN", how)}})
    torch.load(path, map_location="cpu", weights_only=False)
    assert (tmp_path / "RAN").exists()


@pytest.mark.parametrize("how", [SYSTEM, CALL])
def test_the_loader_refuses_them(tmp_path, marker, how):
    path = craft(tmp_path / "model.pth", {"state_dict": {"w": Payload(marker, how)}})
    with pytest.raises(RefusedModelFile) as e:
        load_torch_file(path)
    refused(str(e.value), path, how)


# ====================================================================== decoding (s5_inference)
def decode_refuses(models, test_set, tmp_path, capsys, path: Path, what: str, extra) -> None:
    out = tmp_path / "out"
    message = expect_error(s5_inference.main, decode_args(models, test_set.soundscape, out) + list(extra),
                           capsys)
    refused(message, path, what)
    assert listing(out) in (None, ["identity.json"])


def espnet_model_copy(model_file: Path, folder: Path, payload: Payload) -> Path:
    """An espnet2 model file (its config.yaml beside it) whose first weight is ``payload``."""
    folder.mkdir(parents=True)
    shutil.copy(model_file.parent / "config.yaml", folder / "config.yaml")
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    first = next(iter(state))
    return craft(folder / "valid.loss.best.pth", {**state, first: payload})


@covers("pickle_separator_model")
def test_pickle_separator_model(models, test_set, tmp_path, capsys, marker):
    bad = espnet_model_copy(models.separator, tmp_path / "sep", Payload(marker))
    decode_refuses(models, test_set, tmp_path, capsys, bad, SYSTEM, ["--separator_ckpt", str(bad)])


@covers("pickle_tagger_model")
def test_pickle_tagger_model(models, test_set, tmp_path, capsys, marker):
    bad = espnet_model_copy(models.tagger, tmp_path / "tag", Payload(marker, CALL))
    decode_refuses(models, test_set, tmp_path, capsys, bad, CALL, ["--tagger_ckpt", str(bad)])


@covers("pickle_official_ckpt")
def test_pickle_official_ckpt(models, test_set, tmp_path, capsys, marker):
    sd = {f"model.{k}": v for k, v in torch.load(models.separator, weights_only=True).items()}
    bad = craft(tmp_path / "resunetk.ckpt", lightning_extras(sd, best_score=Payload(marker)))
    decode_refuses(models, test_set, tmp_path, capsys, bad, SYSTEM, ["--separator_ckpt", str(bad)])


@covers("pickle_m2d_weights")
def test_pickle_m2d_weights(models, test_set, m2d_weight_file, tmp_path, capsys, marker):
    weights = torch.load(m2d_weight_file, map_location="cpu", weights_only=True)
    bad = craft(tmp_path / M2D_FOLDER / M2D_WEIGHTS, {"model": {**weights, "module.head.mlp.mlp.0.bias":
                                                                Payload(marker, CALL)}})
    official_tagger = craft(tmp_path / "m2dat_1c.ckpt", lightning_extras({"model.head.w": torch.zeros(1)},
                                                                          torch.tensor(0.5)))
    decode_refuses(models, test_set, tmp_path, capsys, bad, CALL,
                   ["--tagger_ckpt", str(official_tagger), "--m2d_weight_file", str(bad)])


# ====================================================================== training state (checkpoint.pth)
def exp_with_crafted_checkpoint(folder: Path, payload: Payload) -> Path:
    """An exp folder as stage 4 leaves it, whose checkpoint.pth carries ``payload`` in the reporter."""
    folder.mkdir(parents=True)
    craft(folder / "1epoch.pth", {"w": torch.zeros(2)})
    (folder / "valid.loss.best.pth").symlink_to("1epoch.pth")
    (folder / "config.yaml").write_text(yaml.safe_dump({"tagger": "m2d_at"}))
    craft(folder / "checkpoint.pth", {"model": {"w": torch.zeros(2)}, "optimizers": [], "schedulers": [],
                                      "scaler": None, "reporter": {"epoch": 1, "stats": {1: payload}}})
    return folder / "checkpoint.pth"


@covers("pickle_checkpoint_summary")
def test_pickle_checkpoint_summary(tmp_path, capsys, marker):
    bad = exp_with_crafted_checkpoint(tmp_path / "exp", Payload(marker))
    message = expect_error(s5_train_summary.main, ["--exp", str(bad.parent)], capsys)
    refused(message, bad, SYSTEM)
    assert not (bad.parent / "initial_valid.json").exists()


@covers("pickle_checkpoint_stage5_init")
def test_pickle_checkpoint_stage5_init(tmp_path, capsys, marker):
    bad = exp_with_crafted_checkpoint(tmp_path / "tag_head", Payload(marker, CALL))
    dst = tmp_path / "tag_blocks"
    message = expect_error(s5_stage5_init.main, ["--src_exp", str(bad.parent), "--dst_exp", str(dst),
                                                 "--official_resume", "true"], capsys)
    refused(message, bad, CALL)
    assert not (dst / "checkpoint.pth").exists()


@covers("pickle_init_param")
def test_pickle_init_param(tag_config, valid_dir, corpus, tmp_path, marker):
    bad = craft(tmp_path / "init.pth", {"tagger.head.w": Payload(marker)})
    exp, log = tmp_path / "exp", tmp_path / "train.log"
    res = train(train_args(tag_config, exp, valid_dir, corpus) + ["--init_param", str(bad)], log)
    refused(error_line_of_training(log, res.returncode), bad, SYSTEM)
    assert not (exp / "checkpoint.pth").exists() and not list(exp.glob("*epoch.pth"))


@covers("pickle_resume_checkpoint")
def test_pickle_resume_checkpoint(tag_config, valid_dir, corpus, tmp_path, marker):
    exp, log = tmp_path / "exp", tmp_path / "train.log"
    exp.mkdir()
    bad = craft(exp / "checkpoint.pth", {"model": {}, "reporter": {"epoch": 1, "stats": {}},
                                         "optimizers": [{"state": {}, "param_groups": Payload(marker, CALL)}]})
    crafted = bad.read_bytes()
    res = train(train_args(tag_config, exp, valid_dir, corpus), log)
    refused(error_line_of_training(log, res.returncode), bad, CALL)
    assert bad.read_bytes() == crafted and not list(exp.glob("*epoch.pth"))     # left for the user to inspect


# ====================================================================== what we really read still loads
def test_official_lightning_checkpoints_still_load(parity_dir, tmp_path):
    """The parity-seeded ResUNet30 as an official Lightning checkpoint with everything Lightning
    writes beside the weights (loops, ModelCheckpoint/EarlyStopping states holding tensors, AdamW
    state, scheduler state): the separator loads with exactly the seeded weights."""
    from parity import seeded

    from espnet2_ext.s5.model_files import load_separator
    from espnet2_ext.s5.separator import ResUNet30

    rows = seeded.read_keys("resunet30_ckpt")
    sd = seeded.seeded_state_dict(rows, seeded.RESUNET_SEED,
                                  fixed=seeded.fixed_from_model(ResUNet30().state_dict(), rows, prefix="model."))
    path = craft(tmp_path / "resunetk.ckpt", lightning_extras(sd, best_score=torch.tensor(-11.2)))
    ckpt = read_checkpoint(path)
    assert ckpt["callbacks"] == torch.load(path, weights_only=False)["callbacks"]
    separator = load_separator(path)
    got = separator.state_dict()
    assert all(torch.equal(got[k[len("model."):]], v) for k, v in sd.items())


def test_a_checkpoint_written_by_lightning_still_loads(tmp_path):
    """A checkpoint written by Lightning itself (the version the official code uses), with the
    callbacks of the official configs: read exactly as ``weights_only=False`` reads it."""
    pl = pytest.importorskip("lightning.pytorch")

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))

        def training_step(self, batch, index):
            return self.model(batch[0]).pow(2).mean()

        def validation_step(self, batch, index):
            self.log("epoch_val/loss", self.model(batch[0]).pow(2).mean(), on_epoch=True)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.model.parameters(), lr=1e-3, amsgrad=True)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=1, save_last=True,
                                              monitor="epoch_val/loss", mode="min")
    trainer = pl.Trainer(max_epochs=2, callbacks=[checkpoint], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu", gradient_clip_val=0.5)
    trainer.fit(Module(), data, data)
    for path in (tmp_path / "last.ckpt", Path(checkpoint.best_model_path)):
        expected = torch.load(path, weights_only=False)
        got = read_checkpoint(path)
        assert got.keys() == expected.keys() and {"callbacks", "optimizer_states", "loops"} <= got.keys()
        assert got["callbacks"] == expected["callbacks"] and got["loops"] == expected["loops"]


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"model": sd}], ids=["flat", "model"])
def test_m2d_weight_files_still_load(m2d_weight_file, tmp_path, wrap: Callable):
    from espnet2_ext.s5.tagger.m2d_weights import read_m2d_weight_file

    sd = torch.load(m2d_weight_file, weights_only=True)
    path = craft(tmp_path / M2D_FOLDER / M2D_WEIGHTS, wrap(sd))
    assert read_m2d_weight_file(path).backbone.keys() == read_m2d_weight_file(m2d_weight_file).backbone.keys()


def test_training_state_numbers_load_exactly(tmp_path):
    """espnet2's reporter keeps numpy scalars and timedeltas: rebuilt exactly (any byte order);
    numpy arrays, object or string scalars are refused."""
    import datetime

    stats = {"f64": np.float64(0.1), "f32": np.float32(1.5), "i64": np.int64(-3), "u8": np.uint8(7),
             "b": np.bool_(True), "c": np.complex128(1 - 2j), "big": np.dtype(">f8").type(2.5),
             "time": datetime.timedelta(seconds=3.25), "plain": 1.0}
    got = load_torch_file(craft(tmp_path / "ok.pth", {"reporter": {"stats": {1: stats}}}))["reporter"]["stats"][1]
    assert got == stats and all(type(got[k]) is type(v) for k, v in stats.items())
    for name, value, what in (("array", np.zeros(2), "numpy._core.multiarray._reconstruct"),
                              ("str", np.str_("x"), "numpy.dtype"),
                              ("namespace", __import__("argparse").Namespace(a=1), "argparse.Namespace")):
        path = craft(tmp_path / f"{name}.pth", {"reporter": {"stats": {1: {"x": value}}}})
        with pytest.raises(RefusedModelFile, match=f"it asks for the Python object '{what}'"):
            load_torch_file(path)


def test_init_param_of_the_summary_is_refused_too(tmp_path, marker):
    """``s5_train_summary`` rebuilds the model with the run's ``--init_param`` files: same loader."""
    from espnet2_ext.tasks.espnet_torch import load_pretrained_model

    bad = craft(tmp_path / "init.pth", {"w": Payload(marker)})
    with pytest.raises(RefusedModelFile, match=f"refused to load {bad}"):
        load_pretrained_model(str(bad), torch.nn.Linear(1, 1))


def test_our_training_checkpoint_still_resumes(reference_training, tag_config, valid_dir, corpus, tmp_path):
    """A finished tiny training, run again with --resume true: espnet2's checkpoint.pth (numpy
    scalars and timedeltas in the reporter, AdamW state) is read by our loader, and the run
    ends where it was, with the same weights."""
    exp, log = tmp_path / "exp", tmp_path / "train.log"
    shutil.copytree(reference_training, exp, symlinks=True)
    before = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    res = train(train_args(tag_config, exp, valid_dir, corpus), log)
    text = log.read_text()
    assert res.returncode == 0, text[-3000:]
    assert f"The training was resumed using {exp / 'checkpoint.pth'}" in text
    after = load_torch_file(exp / "checkpoint.pth")
    assert after["reporter"] == before["reporter"]
    assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())
