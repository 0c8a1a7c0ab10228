"""Model and config files that are not what they claim: one ERROR naming the file and the key."""
import sys
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import write_espnet_model_file  # noqa: E402

from espnet2_ext.errors import S5InputError  # noqa: E402
from espnet2_ext.s5.model_files import load_separator  # noqa: E402
from espnet2_ext.tasks.s5_sep import S5SeparationTask  # noqa: E402

MINI_CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"


@pytest.fixture(scope="module")
def separator_file(tmp_path_factory):
    return write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk.yaml",
                                   tmp_path_factory.mktemp("sep"))


@pytest.mark.parametrize("content, message", [
    ([1, 2, 3], "holds a list, not a dict of tensors"),
    ({"model": {}, "optimizers": [], "reporter": {}}, "espnet2's training state (checkpoint.pth)"),
    ({"state_dict": [1]}, "'state_dict' is a list"),
    ({"base.bn0.weight": "not a tensor"}, "entry 'base.bn0.weight' is a str, not a tensor"),
])
def test_checkpoints_that_are_not_model_files(tmp_path, separator_file, content, message):
    bad = tmp_path / "valid.loss.best.pth"
    torch.save(content, bad)
    (tmp_path / "config.yaml").write_text((separator_file.parent / "config.yaml").read_text())
    with pytest.raises(S5InputError, match="") as exc:
        load_separator(bad)
    assert message in str(exc.value) and str(bad) in str(exc.value)


@pytest.mark.parametrize("config_text, message", [
    ("separator: [unclosed", "is not valid YAML"),
    ("- a\n- list\n", "the top level is list, expected a mapping"),
])
def test_configs_that_do_not_parse(tmp_path, separator_file, config_text, message):
    model = tmp_path / "m.pth"
    model.write_bytes(separator_file.read_bytes())
    (tmp_path / "config.yaml").write_text(config_text)
    with pytest.raises(S5InputError, match=message):
        load_separator(model)


def test_a_config_value_of_the_wrong_type_names_the_config(tmp_path, separator_file):
    model = tmp_path / "m.pth"
    model.write_bytes(separator_file.read_bytes())
    conf = yaml.safe_load((separator_file.parent / "config.yaml").read_text())
    conf["separator_conf"]["base_channels"] = "eight"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(conf))
    with pytest.raises(S5InputError, match=r"cannot build the model of .*config.yaml.*TypeError"):
        load_separator(model)
