"""The recipe's shell skeleton: syntax, option parsing, stage gating."""
import os
import subprocess
from pathlib import Path

import pytest


def shell_files(repo_root: Path):
    files = [p for p in repo_root.rglob("*.sh") if "venv" not in p.parts and ".git" not in p.parts]
    return sorted(files)


def test_all_shell_scripts_pass_bash_n(repo_root):
    files = shell_files(repo_root)
    assert any(p.name == "run.sh" for p in files)
    for p in files:
        res = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
        assert res.returncode == 0, f"{p}: {res.stderr}"


def run_sh(recipe_dir, *args, env=None):
    return subprocess.run(["./run.sh", *args], cwd=recipe_dir, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_help_prints_usage(recipe_dir):
    res = run_sh(recipe_dir, "--stage", "1", "--stop-stage", "1", "--help")
    assert res.returncode == 0
    assert "Usage: ./run.sh" in res.stdout and "Stages:" in res.stdout


@pytest.mark.parametrize("args,msg", [
    (["--stage", "10"], "stages are 1..9"),
    (["--stop_stage", "0"], "stages are 1..9"),
    (["--no-such-option", "1"], "invalid option"),
    (["--mini", "maybe"], "true or false"),
    (["--stage", "5", "--stop-stage", "3"], "--stage 5 is after --stop-stage 3"),
    (["--nj", "0"], "--nj must be an integer >= 1"),
    (["--inference_nj", "-2"], "--inference_nj must be an integer >= 1"),
    (["--train_threads", "0"], "--train_threads must be an integer >= 1"),
    (["--train_threads", "2;touch x"], "--train_threads must be an integer >= 1"),
    (["--PATH", "/tmp"], "invalid option --PATH"),                        # environment, not an option
    (["--ngpu", "64"], "need 64 GPU(s), this machine has"),
    (["--calibration_objective", "sdr"], "--calibration_objective must be accuracy or capi_sdri"),
    (["--inference_precision", "fp16"], "--inference_precision must be fp32 or bf16"),
])
def test_bad_options_fail_clearly(recipe_dir, args, msg):
    res = run_sh(recipe_dir, *args)
    assert res.returncode != 0
    assert msg in res.stdout + res.stderr


def test_one_given_checkpoint_is_not_enough(recipe_dir):
    res = run_sh(recipe_dir, "--tagger_ckpt", "x.ckpt")
    assert res.returncode == 2
    assert "give both --tagger_ckpt and --separator_ckpt" in res.stdout + res.stderr
    assert "Stage 1" not in res.stdout  # nothing ran before the check


def test_config_option_refuses_a_yaml_and_unknown_names(recipe_dir, tmp_path):
    yaml_conf = tmp_path / "sep.yaml"
    yaml_conf.write_text("separator: resunetk\nseparator_conf:\n  base_channels: 8\n")
    res = run_sh(recipe_dir, "--config", str(yaml_conf))
    assert res.returncode != 0 and "--sep_config" in res.stderr and "not an options file" in res.stderr
    opts = tmp_path / "opts.conf"
    opts.write_text("# my options\nnj=2\nrm_everything=1\n")
    res = run_sh(recipe_dir, "--config", str(opts))
    assert res.returncode != 0 and "'rm_everything' is not an option" in res.stderr
    assert "Stage 1" not in res.stdout


@pytest.mark.parametrize("args, names", [
    (["--sep_args", "--max_epoch 300"], ["/sep_resunetk_max_epoch300/", "/tag_blocks_4c/"]),
    (["--tagger_variant", "1c", "--tag_args", "--max_epoch 10", "--sep_args", "--optim_conf lr=3.0e-4"],
     ["/tag_blocks_1c_max_epoch10/", "/sep_resunetk_optim_conflr3.0e-4/"]),
    (["--sep_args", "--init_param '../my model.pth' --x \"a|b\""], ["/sep_resunetk_init_param.mymodel.pth_xab/"]),
])
def test_default_tags_are_config_name_and_args(recipe_dir, tmp_path, args, names):
    """ESPnet's tag rule (config name + args, "--" -> "_", no spaces, "|", "=", "/"), characters a
    folder name may not hold dropped; stage 7 names the models it would decode."""
    res = run_sh(recipe_dir, "--stage", "7", "--stop-stage", "7", "--expdir", str(tmp_path / "exp"), *args)
    assert res.returncode == 1 and "not found (train stages 4-6 first" in res.stdout, res.stdout + res.stderr
    assert all(name in res.stdout for name in names), res.stdout
    assert not (tmp_path / "exp").exists()
