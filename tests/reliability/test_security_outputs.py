"""Security catalogue: names in outputs are escaped and validated; dict-valued options are safe YAML
(see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import List

import numpy as np
import pytest

from espnet2_ext.bin import s5_leaderboard, s5_pack, s5_score, s5_sep_train, s5_submission, s5_tag_train
from espnet2_ext.fileio import write_wav
from espnet2_ext.names import html_text, markdown_text, url_path
from espnet2_ext.s5.official import parse_source_filename
from reliability_cases import covers
from reliability_tools import expect_error, listing

SR, T = 32000, 8000
MARKUP = "decode (1)|<script>x*_[l](u)\\"          # a folder name: no '/' possible
TRAINERS = {"s5_sep_train": s5_sep_train.main, "s5_tag_train": s5_tag_train.main}


def table_cells(row: str) -> List[str]:
    """The cells of a Markdown table row: split at every '|' not escaped by a backslash."""
    cells, cell, i = [], "", 0
    while i < len(row):
        if row[i] == "\\":
            cell, i = cell + row[i:i + 2], i + 2
        elif row[i] == "|":
            cells, cell, i = cells + [cell], "", i + 1
        else:
            cell, i = cell + row[i], i + 1
    return (cells + [cell])[1:-1]


def check_tables(markdown: str) -> None:
    """Every row of every table has as many cells as its header; no raw tag or link from a name."""
    header = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = len(table_cells(line))
        else:
            assert len(table_cells(line)) == header, line
    assert "<script" not in markdown and "<img" not in markdown


# ------------------------------------------------------------------ leaderboard and score folder
def results_json(path: Path, config: dict) -> None:
    """A minimal valid results.json of s5_score."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"CAPI-SDRi": {"mean": 5.0}, "label_metrics": {"accuracy_mix": 50.0,
                                "accuracy_src": 60.0}, "nparams": 1000, "details": [], "config": config}))


@covers("leaderboard_folder_markup")
def test_leaderboard_escapes_folder_and_model_names(tmp_path):
    decode = tmp_path / "exp" / MARKUP / "test"
    env = {"code_version": "abc`|<img src=x onerror=alert(1)>", "torch": "2.0\n| injected | row |",
           "espnet": "[x](http://example.com)"}
    results_json(decode / "score" / "results.json", {"environment": env})
    (decode / "score" / "report").mkdir()
    (decode / "score" / "report" / "index.html").write_text("<html></html>")
    (decode / "model_info.json").write_text(json.dumps({
        "tagger_ckpt": str(tmp_path / "exp" / "tag_`a`|<b>" / "valid.loss.best.pth"),
        "separator_ckpt": str(tmp_path / "exp" / "sep_[s](t)" / "latest.pth")}))
    s5_leaderboard.main(["--exp", str(tmp_path / "exp"), "--output", str(tmp_path / "RESULTS.md")])

    board = (tmp_path / "RESULTS.md").read_text()
    check_tables(board)
    rows = [line for line in board.split("\n## ")[0].splitlines() if line.startswith("|")]   # the main table
    assert len(rows) == 2 + 4 + 1 and all(len(table_cells(r)) == 12 for r in rows)   # header, refs, ours
    ours = next(r for r in rows if markdown_text(MARKUP) in r)
    assert "&lt;script&gt;" in ours and "\\|" in ours and "\\[l\\]" in ours
    assert markdown_text("tag_`a`|<b>") in ours and markdown_text("sep_[s](t)") in ours
    assert markdown_text(env["torch"]) in ours and "␊" in ours
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", board)
    assert links == [url_path(f"exp/{MARKUP}/test/score/report/index.html")]
    assert " " not in links[0] and "(" not in links[0]


@pytest.fixture
def score_set(tmp_path) -> Path:
    """soundscape/ (one 4-channel scene), oracle_target/ and est/ (a copy of the target)."""
    rng = np.random.default_rng(0)
    ref = (0.1 * rng.standard_normal(T)).astype(np.float32)
    write_wav(tmp_path / "soundscape" / "scene_0.wav", 0.01 * rng.standard_normal((4, T)).astype(np.float32) + ref,
              SR)
    write_wav(tmp_path / "oracle_target" / "scene_0_0_Speech.wav", ref, SR)
    write_wav(tmp_path / "est" / "scene_0_0_Speech.wav", ref, SR)
    return tmp_path


def score_args(root: Path, *extra: str) -> List[str]:
    return ["--soundscape_dir", str(root / "soundscape"), "--oracle_target_dir", str(root / "oracle_target"),
            "--estimate_dir", str(root / "est"), "--output_dir", str(root / "score"), *extra]


@covers("score_system_markup")
def test_score_escapes_the_system_name(score_set):
    system = "sys|<script>alert(1)</script>*x*[x](y) $\\x{$\n"
    s5_score.main(score_args(score_set, "--system", system, "--report_audio_format", "wav", "--report_n", "1"))
    out = score_set / "score"
    md = (out / "RESULTS.md").read_text()
    check_tables(md)
    assert f"## {markdown_text(system)}\n" in md and "␊" in md
    assert md.count(f"|{markdown_text(system)}|") == 2                  # main and per-class tables
    page = (out / "report" / "index.html").read_text()
    assert html_text(system) in page and "<script>alert" not in page
    assert (out / "per_class_capi_sdri.png").is_file() and (out / "label_confusion.png").is_file()


@covers("soundscape_name_newline")
def test_soundscape_name_with_a_newline_is_refused(score_set, capsys):
    shutil.copy(score_set / "soundscape" / "scene_0.wav", score_set / "soundscape" / "scene_0\n.wav")
    expect_error(s5_score.main, score_args(score_set), capsys,
                 "soundscape file 'scene_0\\n.wav': the name holds the control character(s) '\\n'",
                 f"rename it in {score_set / 'soundscape'}")
    assert listing(score_set / "score") is None


@covers("label_name_newline")
def test_label_name_with_a_newline_is_refused(score_set, capsys):
    entries = {"scene_0": [{"filename": "scene_0_0_Speech.wav", "label": "Speech\n", "probability": 0.9}]}
    (score_set / "est" / "estimates.json").write_text(json.dumps(entries))
    expect_error(s5_score.main, score_args(score_set), capsys, "scene_0_0_Speech.wav is listed with label 'Speech\\n'")
    assert listing(score_set / "score") is None
    assert parse_source_filename("scene_0_0_Speech.wav", "scene_0") == (0, "Speech")
    assert parse_source_filename("scene_0_0_Speech.wav\n", "scene_0") is None
    assert parse_source_filename("scene_0\n_0_Speech.wav", "scene_0") is None


# ------------------------------------------------------------------ names of what we create
@pytest.mark.parametrize("option, value", [("--author", "Doe\n"), ("--author", "Do/e"), ("--affiliation", ".."),
                                           ("--affiliation", "Lab\r")])
@covers("submission_author_name")
def test_submission_name_parts_are_refused(tmp_path, capsys, option, value):
    write_wav(tmp_path / "eval" / "eval_0000.wav", np.zeros((4, T), np.float32), SR)
    write_wav(tmp_path / "est" / "eval_0000_0_Speech.wav", np.zeros(T, np.float32), SR)
    results_json(tmp_path / "dev_results.json", {})
    names = {"--author": "Doe", "--affiliation": "Lab", option: value}
    argv = ["--eval_estimate_dir", str(tmp_path / "est"), "--eval_soundscape_dir", str(tmp_path / "eval"),
            "--dev_results", str(tmp_path / "dev_results.json"), "--submission_number", "1",
            "--output_dir", str(tmp_path / "out"), *[x for item in names.items() for x in item]]
    expect_error(s5_submission.main, argv, capsys, f"{option} {value!r}: use letters, digits and '-' only")
    assert listing(tmp_path / "out") is None


@pytest.mark.parametrize("name, needle", [("sys\n.zip", "the name holds the control character(s) '\\n'"),
                                          ("sys..zip", "must not be empty or hold '/' or '..'")])
@covers("pack_archive_name")
def test_pack_archive_name_is_refused(tmp_path, capsys, name, needle):
    argv = ["pack", "--tagger_model", str(tmp_path / "t.pth"), "--separator_model", str(tmp_path / "s.pth"),
            "--outpath", str(tmp_path / "packed" / name)]
    expect_error(s5_pack.main, argv, capsys, f"--outpath {name!r}", needle)
    assert listing(tmp_path / "packed") is None


# ------------------------------------------------------------------ dict-valued options: safe YAML only
def python_tag(marker: Path) -> str:
    """A YAML value that runs ``touch <marker>`` when read with yaml.Loader / yaml.unsafe_load."""
    return f'!!python/object/apply:os.system ["touch {marker}"]'


def trainer_fails(tool: str, argv: List[str], tmp_path: Path, capsys, marker: Path, *needles: str) -> None:
    exp = tmp_path / "exp"
    expect_error(TRAINERS[tool], ["--output_dir", str(exp), *argv], capsys, *needles)
    assert not marker.exists(), "the payload ran"
    assert listing(exp) is None


@pytest.mark.parametrize("tool, option, prefix", [("s5_sep_train", "--optim_conf", ""),
                                                  ("s5_tag_train", "--optim_conf", ""),
                                                  ("s5_tag_train", "--tagger_conf", "weight_file="),
                                                  ("s5_sep_train", "--train_data_conf", "spatial_sound_scene.x=")])
@covers("conf_option_python_tag")
def test_conf_option_with_a_python_tag(tmp_path, capsys, tool, option, prefix):
    marker = tmp_path / "MARKER"
    value = prefix + python_tag(marker)
    trainer_fails(tool, [option, value], tmp_path, capsys, marker,
                  f"{option} {value!r} is not plain YAML", "tags such as !!python/... are refused")


@covers("conf_option_python_eval")
def test_conf_option_with_python_code(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    value = f"__import__('os').system('touch {marker}') or {{}}"
    trainer_fails("s5_sep_train", ["--optim_conf", value], tmp_path, capsys, marker,
                  f"--optim_conf {value!r} is not a mapping")


@pytest.mark.parametrize("tool", sorted(TRAINERS))
@covers("config_yaml_python_tag")
def test_config_yaml_with_a_python_tag(tmp_path, capsys, tool):
    marker = tmp_path / "MARKER"
    config = tmp_path / "config.yaml"
    config.write_text(f"batch_size: 4\noptim_conf: {python_tag(marker)}\n")
    trainer_fails(tool, ["--config", str(config)], tmp_path, capsys, marker,
                  f"config {config} is not valid YAML", "python/object/apply:os.system")
