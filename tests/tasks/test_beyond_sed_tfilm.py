"""Beyond the baseline: the SED tagger (m2d_sed_4c) and the Time-FiLM separator (resunetk_tfilm):
configs, data names, few-step training and resume, and decoding the pair with s5_inference."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import TINY_M2D, espnet_args, force_slot_labels  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf"
OPTIONS = {"tag_head_sed_4c": ("tag_head_4c", S5TaggingTask), "tag_blocks_sed_4c": ("tag_blocks_4c", S5TaggingTask),
           "sep_resunetk_tfilm": ("sep_resunetk", S5SeparationTask)}
SR = 32000


def train(task, config, exp, valid, *extra):
    task.main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                   "--ngpu", "0", "--resume", "true", *extra])


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_option_configs_differ_from_the_baseline_only_in_the_model():
    for d in ("tuning", "mini"):
        for name, (base_name, _) in OPTIONS.items():
            option = yaml.safe_load((CONF / d / f"{name}.yaml").read_text())
            base = yaml.safe_load((CONF / d / f"{base_name}.yaml").read_text())
            if "tagger" in option:
                assert (option.pop("tagger"), base.pop("tagger")) == ("m2d_sed_4c", "m2d_at_4c")
                assert set(option["tagger_conf"].pop("frame_head_args")) == {"hidden_dim"}
                assert option["tagger_conf"].pop("frame_loss_weight") == 1.0
            else:
                assert (option.pop("separator"), base.pop("separator")) == ("resunetk_tfilm", "resunetk")
                assert option["separator_conf"].pop("activity_noise") == 0.1
            assert option == base, (d, name)      # same lr, items, epochs: equal training budget


def test_items_carry_activity_only_for_models_that_need_it():
    def names(task, net):
        return task.data_names(argparse.Namespace(**{task.net_choices.name: net}), train=True)

    assert names(S5TaggingTask, "m2d_at_4c") == ("mixture", "label_vector")
    assert names(S5TaggingTask, "m2d_sed_4c") == ("mixture", "label_vector", "activity")
    assert names(S5SeparationTask, "resunetk") == ("mixture", "label_vector", "dry_sources")
    assert names(S5SeparationTask, "resunetk_tfilm") == ("mixture", "label_vector", "dry_sources", "activity")


@pytest.mark.parametrize("name", ["tag_head_sed_4c", "sep_resunetk_tfilm"])
def test_few_steps_train_log_the_frame_loss_and_resume_exactly(tiny_setup, tiny_config, tmp_path, name):
    corpus, valid = tiny_setup
    task = OPTIONS[name][1]
    config = tiny_config(name, corpus, tmp_path / "c.yaml")
    train(task, config, tmp_path / "full", valid)
    stats = weights(tmp_path / "full" / "checkpoint.pth")["reporter"]["stats"]
    assert sorted(stats) == [1, 2]
    if name.startswith("tag"):
        assert {"loss_slot", "loss_frame", "frame_f1"} <= set(stats[2]["valid"])
        assert stats[2]["valid"]["loss"] == pytest.approx(stats[2]["valid"]["loss_slot"]
                                                          + stats[2]["valid"]["loss_frame"], rel=1e-5)
    a1, a = weights(tmp_path / "full" / "1epoch.pth"), weights(tmp_path / "full" / "2epoch.pth")
    new = "frame_head." if name.startswith("tag") else "separator.time_film."
    assert any(k.startswith(f"tagger.{new}" if name.startswith("tag") else new) and not torch.equal(a[k], a1[k])
               for k in a), "the option's new layers did not train"
    # "interrupted" run: stop after epoch 1, then rerun the same command
    train(task, config, tmp_path / "split", valid, "--max_epoch", "1")
    train(task, config, tmp_path / "split", valid)
    b = weights(tmp_path / "split" / "2epoch.pth")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------------------ decoding
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Soundscapes + oracle targets (1 s) and espnet2 model files of the SED tagger, the Time-FiLM
    separator (time FiLM made non-zero, so the activity matters) and the baseline tagger."""
    from espnet2_ext.fileio import write_torch, write_wav
    from espnet2_ext.s5.tagger import fabricate_m2d_weight_file

    root = tmp_path_factory.mktemp("sed_pair")
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    for name, labels in {"sc_a": ["Speech", "Dishes"], "sc_b": ["Cough"]}.items():
        refs = [0.1 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) * (t < 0.5) for _ in labels]
        write_wav(root / "soundscape" / f"{name}.wav",
                  (0.01 * rng.standard_normal((4, SR)) + sum(refs, np.zeros(SR))).astype(np.float32), SR)
        for i, (label, ref) in enumerate(zip(labels, refs)):
            write_wav(root / "oracle_target" / f"{name}_{i}_{label}.wav", ref.astype(np.float32), SR)
    m2d = str(fabricate_m2d_weight_file(root / "m2d", **TINY_M2D))

    def model_file(task, conf, out, labels=None, **updates):
        (root / out).mkdir()
        args = espnet_args(task, CONF / "mini" / conf, root / out, **updates)
        torch.manual_seed(0)
        model = task.build_model(args)
        if labels is not None:
            force_slot_labels(model.tagger, labels)
        if hasattr(model, "separator"):
            for layer in model.separator.time_film.values():
                torch.nn.init.normal_(layer.weight, std=0.05)
        (root / out / "config.yaml").write_text(yaml.safe_dump(vars(args), sort_keys=False))
        write_torch(root / out / "valid.loss.best.pth", model.state_dict())
        return root / out / "valid.loss.best.pth"

    slots = ["Speech", "silence", "Dishes"]
    return argparse.Namespace(
        soundscapes=root / "soundscape", oracle=root / "oracle_target",
        sed=model_file(S5TaggingTask, "tag_blocks_sed_4c.yaml", "sed", slots, tagger_conf={"weight_file": m2d}),
        base_tag=model_file(S5TaggingTask, "tag_blocks_4c.yaml", "tag", slots, tagger_conf={"weight_file": m2d}),
        tfilm=model_file(S5SeparationTask, "sep_resunetk_tfilm.yaml", "sep"))


def decode(pair, out_dir, *args):
    from espnet2_ext.bin import s5_inference

    s5_inference.main(["--soundscape_dir", str(pair.soundscapes), "--output_dir", str(out_dir), "--device", "cpu",
                       *args])


def test_the_sed_tagger_frames_drive_the_time_film_separator(pair, tmp_path):
    from espnet2_ext.fileio import read_wav
    from espnet2_ext.s5.activity import slot_tracks
    from espnet2_ext.s5.model_files import load_separator, load_tagger
    from espnet2_ext.s5.pipeline import S5Pipeline

    decode(pair, tmp_path, "--tagger_ckpt", str(pair.sed), "--separator_ckpt", str(pair.tfilm))
    pipe = S5Pipeline(load_tagger(pair.sed), load_separator(pair.tfilm))
    mix = torch.from_numpy(read_wav(pair.soundscapes / "sc_a.wav", SR, 4)[0])[None]
    out = pipe(mix)
    assert out.labels == [["Speech", "Dishes", "silence"]]
    for i, label in enumerate(out.labels[0][:2]):
        written = read_wav(tmp_path / f"sc_a_{i}_{label}.wav", SR, 1)[0][0]
        np.testing.assert_allclose(written, out.waveform[0, i, 0].numpy(), atol=1e-5)
    # the frames of the slot's class reach the separator: other tracks give another output
    frames = torch.sigmoid(pipe.tagger.forward_frames(mix)[1])
    torch.testing.assert_close(pipe.separate(mix, out.labels, slot_tracks(frames, out.labels)), out.waveform)
    assert (pipe.separate(mix, out.labels, torch.ones(1, 3, frames.shape[1])) - out.waveform).abs().max() > 1e-5


def test_oracle_labels_take_the_activity_of_the_oracle_targets(pair, tmp_path):
    decode(pair, tmp_path, "--separator_ckpt", str(pair.tfilm), "--oracle_target_dir", str(pair.oracle),
           "--oracle_labels", "true")
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["sc_a_0_Speech.wav", "sc_a_1_Dishes.wav",
                                                              "sc_b_0_Cough.wav"]
    from espnet2_ext.bin.s5_inference import oracle_activity

    act = oracle_activity(pair.oracle, "sc_a", SR)
    assert act.shape == (3, 50) and act[:2, :25].all() and not act[:, 26:].any() and not act[2].any()


def test_a_baseline_tagger_with_a_time_film_separator_is_one_error_naming_both(pair, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        decode(pair, tmp_path / "out", "--tagger_ckpt", str(pair.base_tag), "--separator_ckpt", str(pair.tfilm))
    err = capsys.readouterr().err
    assert exc.value.code != 0
    lines = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1 and str(pair.base_tag) in lines[0] and str(pair.tfilm) in lines[0]
    assert "m2d_sed_4c" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_validation_items_measure_activity_on_the_oracle_targets(tiny_setup):
    from espnet2_ext.fileio import read_wav
    from espnet2_ext.s5.activity import waveform_activity
    from espnet2_ext.synth.dataset import DataDirDataset, read_scp

    _, valid = tiny_setup
    ds = DataDirDataset(valid, label_vector_mode="stack", return_source=False, return_activity=True)
    n_active = 0
    for i in range(len(ds)):
        item = ds[i]
        assert "dry_sources" not in item and item["activity"].shape[0] == 3
        for k, label in enumerate(item["labels"]):
            if label == "silence":
                assert not item["activity"][k].any()
                continue
            ref = read_wav(read_scp(valid / f"spk{k + 1}.scp")[item["name"]], SR, 1)[0]
            np.testing.assert_array_equal(item["activity"][k].numpy(), waveform_activity(ref[None])[0])
            n_active += int(item["activity"][k].any())
    assert n_active > 0
