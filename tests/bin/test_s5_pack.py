"""Stage 9: pack a system with espnet2's packing code, unpack it, decode from it; the model card; upload."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import TINY_M2D, write_espnet_model_file  # noqa: E402

from espnet2_ext.bin import s5_pack  # noqa: E402
from espnet2_ext.errors import S5InputError  # noqa: E402
from espnet2_ext.s5.model_files import load_separator, load_tagger  # noqa: E402
from espnet2_ext.s5.tagger import fabricate_m2d_weight_file  # noqa: E402
from espnet2_ext.tasks.s5_sep import S5SeparationTask  # noqa: E402
from espnet2_ext.tasks.s5_tag import S5TaggingTask  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MINI_CONF = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"
#: a results.json of s5_score with the bootstrap intervals (the keys the model card reads)
RESULTS = {"CAPI-SDRi": {"mean": 8.48912, "ci95": [7.9013, 9.1042]},
           "label_metrics": {"accuracy_mix": 60.714, "accuracy_src": 70.394, "accuracy_mix_ci95": [55.25, 66.5]},
           "nparams": 1000, "n_mixtures": 2, "n_scored_mixtures": 2,
           "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95},
           "details": [{"soundscape": "a"}, {"soundscape": "b"}], "config": {"system": "4c_resunetk"}}


@pytest.fixture()
def system(tmp_path, monkeypatch):
    """A recipe-like folder (cwd) with an M2D weight file, two espnet2 experiments and a score folder."""
    monkeypatch.chdir(tmp_path)
    weights = fabricate_m2d_weight_file(Path("checkpoint"), **TINY_M2D)
    tagger = write_espnet_model_file(S5TaggingTask, MINI_CONF / "tag_blocks_4c.yaml", Path("exp/tag_blocks_4c"),
                                     tagger_conf={"weight_file": str(weights)})
    separator = write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk.yaml", Path("exp/sep_resunetk"))
    score = Path("exp/decode_x/test/score")
    score.mkdir(parents=True)
    (score / "RESULTS.md").write_text("# results\n")
    (score / "results.json").write_text(json.dumps(RESULTS))
    (score / "report" / "media").mkdir(parents=True)
    (score / "report" / "index.html").write_text("<html></html>\n")
    (score / "report" / "media" / "a.png").write_bytes(b"png")
    return tagger, separator, score, weights


def test_pack_unpack_round_trip_gives_the_same_models(system, tmp_path):
    tagger, separator, score, _ = system
    archive = s5_pack.pack_system(tagger, separator, Path("exp/packed/sys.zip"), score)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"meta.yaml", "tagger/model.pth", "tagger/config.yaml", "separator/model.pth",
            "separator/config.yaml", "m2d_weight_reference.yaml", "RESULTS.md", "results.json",
            "report/index.html", "report/media/a.png"} <= names
    assert not list(archive.parent.glob(".*"))                  # no temporary left beside it
    files = s5_pack.unpack_system(archive, Path("exp/packed/sys"))
    for original, unpacked, load in ((tagger, files["tagger_model"], load_tagger),
                                     (separator, files["separator_model"], load_separator)):
        a, b = load(original).state_dict(), load(unpacked).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(1, 4, 8000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(load_tagger(tagger)(x), load_tagger(files["tagger_model"])(x))


def test_calibration_travels_with_the_system(system, tmp_path, capsys):
    import json
    from espnet2_ext.s5.calibration import Calibration
    tagger, separator, score, _ = system
    cal = Path("exp/tag_blocks_4c/calibration_model.json")
    cal.write_text(json.dumps(Calibration([0.3] * 18, 0.2, {"objective": "accuracy"}).to_json()))
    s5_pack.main(["pack", "--tagger_model", str(tagger), "--separator_model", str(separator),
                  "--calibration", str(cal), "--outpath", "exp/packed/sys_calib.zip"])
    s5_pack.main(["unpack", "--archive", "exp/packed/sys_calib.zip", "--outdir", "exp/packed/sys_calib"])
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines() if "=" in line)
    back = Calibration.from_file(Path(lines["calibration"]))
    assert back.thresholds == [0.3] * 18 and back.min_probability == 0.2
    bad = Path("bad_calibration.json")
    bad.write_text("{}")
    with pytest.raises(S5InputError, match="not a version"):            # checked before anything is written
        s5_pack.pack_system(tagger, separator, Path("exp/packed/bad.zip"), calibration=bad)
    assert not Path("exp/packed/bad.zip").exists()
    s5_pack.main(["unpack", "--archive", str(s5_pack.pack_system(tagger, separator, Path("plain.zip"))),
                  "--outdir", "plain"])
    assert "calibration=" not in capsys.readouterr().out            # none packed: none printed


def test_unpack_checks_archive_and_m2d_reference(system, tmp_path):
    tagger, separator, score, weights = system
    archive = s5_pack.pack_system(tagger, separator, Path("sys.zip"), score)
    Path("junk.zip").write_bytes(b"not a zip")
    with pytest.raises(S5InputError, match="not a packed S5 system"):
        s5_pack.unpack_system(Path("junk.zip"), Path("out_junk"))
    weights.write_bytes(weights.read_bytes() + b"x")                  # another M2D file at that path
    with pytest.raises(S5InputError, match="not the M2D weight file this system was trained on"):
        s5_pack.unpack_system(archive, Path("out1"))
    with pytest.raises(S5InputError, match="use one of .zip"):
        s5_pack.pack_system(tagger, separator, Path("sys.7z"))


def test_upload_offline_is_one_error_and_changes_nothing(system, tmp_path, monkeypatch, capsys):
    tagger, separator, score, _ = system
    archive = s5_pack.pack_system(tagger, separator, Path("sys.zip"), score)
    before = sorted(p for p in tmp_path.rglob("*"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")          # nothing listens there
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    with pytest.raises(SystemExit) as exc:
        s5_pack.main(["upload", "--archive", str(archive), "--hf_repo", "someone/s5"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith("ERROR: uploading sys.zip to the Hugging Face Hub repository someone/s5 failed: ")
    assert err.rstrip().endswith(f"the archive is kept at {archive.resolve()}")
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert os.environ["HF_ENDPOINT"] == "http://127.0.0.1:9"


@pytest.mark.parametrize("fmt", ["zip", "tgz", "tar"])
def test_our_unpack_writes_what_espnet2s_unpack_wrote(system, tmp_path, fmt):
    """Same files, same bytes (the configs rewritten to the unpacked paths), same returned paths."""
    tagger, separator, score, _ = system
    archive = s5_pack.pack_system(tagger, separator, Path(f"sys.{fmt}"), score)
    theirs = s5_pack.pack_funcs.unpack(archive, Path("theirs/sys"))
    ours = s5_pack.unpack_system(archive, Path("ours/sys"))
    assert ours == {key: path.replace("theirs/", "ours/", 1) for key, path in theirs.items()}
    names = sorted(p.relative_to("theirs").as_posix() for p in Path("theirs").rglob("*") if p.is_file())
    assert names == sorted(p.relative_to("ours").as_posix() for p in Path("ours").rglob("*") if p.is_file())
    for name in names:
        assert (Path("ours") / name).read_bytes().replace(b"ours/", b"theirs/") == (Path("theirs") / name).read_bytes()


def test_unpack_replaces_only_an_unpacked_folder(system, tmp_path):
    tagger, separator, score, _ = system
    archive = s5_pack.pack_system(tagger, separator, Path("sys.zip"), score)
    Path("mine").mkdir()
    (Path("mine") / "notes.txt").write_text("keep me\n")
    with pytest.raises(S5InputError, match="not an unpacked system"):
        s5_pack.unpack_system(archive, Path("mine"))
    assert [p.name for p in Path("mine").iterdir()] == ["notes.txt"]
    s5_pack.unpack_system(archive, Path("sys"))
    (Path("sys") / "stale.txt").write_text("from an older copy\n")
    s5_pack.unpack_system(archive, Path("sys"))                     # a previous copy is replaced whole
    assert not (Path("sys") / "stale.txt").exists() and not list(Path(".").glob(".sys.*"))


def test_run_sh_reads_the_printed_lines(system, tmp_path):
    """run.sh stage 7 (--packed_model) parses the unpack output with its own sed lines."""
    import re
    import subprocess
    tagger, separator, score, _ = system
    archive = s5_pack.pack_system(tagger, separator, Path("sys.zip"), score)
    run_sh = (MINI_CONF.parents[1] / "run.sh").read_text()
    parsing = re.findall(r"^\s*((?:tagger_ckpt|separator_ckpt|packed_calib)=\$\(echo \"\$\{unpacked(?::-)?\}\" "
                         r"\| sed -n '[^']*'\))\s*$", run_sh, flags=re.M)
    assert len(parsing) == 3, parsing
    script = "\n".join([f"unpacked=$({sys.executable} -m espnet2_ext.bin.s5_pack unpack --archive {archive} "
                        f"--outdir exp/packed/sys)", *parsing,
                        'printf "%s|%s|%s\\n" "${tagger_ckpt}" "${separator_ckpt}" "${packed_calib}"'])
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exp/packed/sys/tagger/model.pth|exp/packed/sys/separator/model.pth|\n"


def card_of(archive: Path) -> str:
    with zipfile.ZipFile(archive) as z:
        return z.read("README.md").decode("utf-8")


def test_every_archive_holds_a_model_card_with_the_scores(system, tmp_path, capsys):
    from huggingface_hub import ModelCard
    from espnet2_ext.s5.model_card import read_card
    tagger, separator, score, _ = system
    s5_pack.main(["pack", "--tagger_model", str(tagger.resolve()), "--separator_model", str(separator),
                  "--score_dir", str(score), "--outpath", "exp/packed/4c_resunetk.zip"])
    text = card_of(Path("exp/packed/4c_resunetk.zip"))
    assert "README.md" not in yaml_files_of(Path("exp/packed/4c_resunetk.zip"))   # meta.yaml: unchanged keys
    data = ModelCard(text, ignore_metadata_errors=False).data
    assert data.library_name == "espnet" and "dcase2026" in data.tags and data.datasets
    assert {r.metric_name: r.metric_value for r in data.eval_results} == {
        "CAPI-SDRi (dB)": RESULTS["CAPI-SDRi"]["mean"], "Mixture label accuracy (%)": 60.714,
        "Source label accuracy (%)": 70.394}
    assert "| CAPI-SDRi (dB) | 8.489 | [7.901, 9.104] |" in text
    assert "| Mixture label accuracy (%) | 60.714 | [55.250, 66.500] |" in text
    assert "| Tagger | m2d\\_at\\_4c |" in text        # the checkpoint path relative to the working folder:
    assert "| Tagger checkpoint | exp/tag\\_blocks\\_4c/valid.loss.best.pth (packed as tagger/model.pth" in text
    assert "./run.sh --stage 7 --stop-stage 8 --packed_model 4c_resunetk.zip" in text
    # the --packed_model path: run.sh's unpack lines still come, the card comes along as a plain file
    s5_pack.main(["unpack", "--archive", "exp/packed/4c_resunetk.zip", "--outdir", "exp/packed/4c_resunetk"])
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines() if "=" in line)
    assert set(lines) == {"tagger_model", "separator_model"} and Path(lines["tagger_model"]).is_file()
    assert read_card(Path("exp/packed/4c_resunetk/README.md"))["license"] == "other"
    assert load_tagger(lines["tagger_model"]) is not None


def yaml_files_of(archive: Path) -> str:
    with zipfile.ZipFile(archive) as z:
        return z.read("meta.yaml").decode("utf-8")


def test_card_of_scores_without_intervals_and_of_a_special_name(system, tmp_path):
    tagger, separator, score, _ = system
    old = copy.deepcopy(RESULTS)
    del old["CAPI-SDRi"]["ci95"], old["label_metrics"]["accuracy_mix_ci95"], old["bootstrap"]
    old["config"]["system"] = "<img src=x onerror=alert(1)>"
    (score / "results.json").write_text(json.dumps(old))
    archive = s5_pack.pack_system(tagger, separator, Path("exp/packed/a*b_<i>c<b>|d.zip"), score)
    text = card_of(archive)
    assert text.count("interval not computed (scored before intervals existed)") == 3
    body = text[text.index("\n---\n", 4):text.index("## How to use")]      # the prose before the code blocks
    assert "# DCASE2026 Task 4 S5 system a\\*b\\_&lt;i&gt;c&lt;b&gt;\\|d" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img" not in body and "<i>" not in body
    assert s5_pack.unpack_system(archive, Path("exp/packed/unpacked"))["tagger_model"].endswith("tagger/model.pth")
    (score / "results.json").write_text("{}")                 # not a results.json of s5_score: nothing packed
    with pytest.raises(S5InputError, match="CAPI-SDRi"):
        s5_pack.pack_system(tagger, separator, Path("exp/packed/bad.zip"), score)
    assert not Path("exp/packed/bad.zip").exists()


@pytest.mark.parametrize("repo", ["no_slash", "a/b/c", "own er/name", "-x/name", "x/name.", "x/na--me", "x/",
                                  "x/name.git", "x/" + "n" * 97])
def test_a_bad_repo_id_is_one_error_before_any_work(system, tmp_path, capsys, repo):
    tagger, separator, score, _ = system
    with pytest.raises(SystemExit) as exc:
        s5_pack.main(["pack", "--tagger_model", str(tagger), "--separator_model", str(separator),
                      "--outpath", "exp/packed/sys.zip", f"--hf_repo={repo}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("ERROR: --hf_repo") and err.count("\n") == 1
    assert not Path("exp/packed").exists()
    assert s5_pack.check_hf_repo("some-one/dcase26t4_s5.v1") == "some-one/dcase26t4_s5.v1"


def test_upload_offline_is_one_error_and_keeps_the_archive(system, tmp_path):
    """For real: a separate process with HF_HUB_OFFLINE=1 packs, then fails to upload."""
    tagger, separator, score, _ = system
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    run = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.s5_pack", "pack", "--tagger_model", str(tagger),
                          "--separator_model", str(separator), "--score_dir", str(score),
                          "--outpath", "exp/packed/sys.zip", "--hf_repo", "someone/s5"],
                         capture_output=True, text=True, env=env, timeout=300)
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert run.returncode == 2 and len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    archive = (tmp_path / "exp/packed/sys.zip").resolve()
    assert errors[0].startswith("ERROR: uploading sys.zip to the Hugging Face Hub repository someone/s5 failed: ")
    assert "offline" in errors[0] and errors[0].endswith(f"the archive is kept at {archive}")
    assert archive.is_file() and "README.md" in zipfile.ZipFile(archive).namelist()
    assert sorted(p.name for p in archive.parent.iterdir()) == ["sys.zip"]      # no upload folder left


def test_upload_sends_the_archive_and_its_model_card(system, tmp_path, monkeypatch):
    import huggingface_hub
    tagger, separator, score, _ = system
    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create"] = (repo_id, kw)

    def upload_folder(self, folder_path, repo_id, **kw):
        folder = Path(folder_path)
        calls["upload"] = (repo_id, kw, {p.name: p.read_bytes() for p in folder.iterdir()}, folder)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    s5_pack.main(["pack", "--tagger_model", str(tagger), "--separator_model", str(separator),
                  "--score_dir", str(score), "--outpath", "exp/packed/sys.zip", "--hf_repo", "someone/s5"])
    repo, kw, uploaded, folder = calls["upload"]
    assert repo == "someone/s5" and calls["create"] == ("someone/s5", {"repo_type": "model", "exist_ok": True,
                                                                      "private": True})
    assert sorted(uploaded) == ["README.md", "sys.zip"] and not folder.exists()   # the temporary folder is gone
    assert uploaded["sys.zip"] == Path("exp/packed/sys.zip").read_bytes()
    assert uploaded["README.md"] == card_of(Path("exp/packed/sys.zip")).encode("utf-8")
    with zipfile.ZipFile(Path("exp/packed/sys.zip")) as z:
        assert {"tagger/model.pth", "separator/model.pth", "README.md"} <= set(z.namelist())
    assert 'S5Separate.from_pretrained("someone/s5")' in uploaded["README.md"].decode()
    assert set(kw["delete_patterns"]) == {"*.zip", "*.tgz", "*.tar"}      # the repository holds one system


def test_run_sh_stage_9_packs_the_card_and_passes_hf_repo(system, tmp_path):
    """run.sh --stage 9 --hf_repo: the repository id is checked before any stage, then the archive
    (model card inside) is packed and the upload fails offline with one ERROR line, archive kept."""
    tagger, separator, score, weights = system
    exp = tmp_path / "rexp"
    conf = {"tagger_conf": {"weight_file": str(weights.resolve())}}
    write_espnet_model_file(S5TaggingTask, MINI_CONF / "tag_blocks_4c.yaml", exp / "tag_blocks_4c", **conf)
    write_espnet_model_file(S5SeparationTask, MINI_CONF / "sep_resunetk.yaml", exp / "sep_resunetk")
    (exp / "decode_4c_resunetk_valid.loss.best" / "test").mkdir(parents=True)
    (exp / "decode_4c_resunetk_valid.loss.best" / "test" / "score").symlink_to(score.resolve())
    recipe = REPO / "egs2" / "dcase26t4" / "s5"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def run_sh(*args):
        return subprocess.run(["./run.sh", "--stage", "9", "--stop-stage", "9", "--expdir", str(exp), *args],
                              cwd=recipe, capture_output=True, text=True, env=env, timeout=300)

    bad = run_sh("--hf_repo", "me/bad name; touch x")
    assert bad.returncode == 2 and "ERROR: --hf_repo 'me/bad name; touch x'" in bad.stderr, bad.stdout + bad.stderr
    assert "Stage 9" not in bad.stdout and not (exp / "packed").exists()
    res = run_sh("--hf_repo", "someone/s5")
    archive = exp / "packed" / "4c_resunetk_valid.loss.best.zip"
    errors = [line for line in res.stderr.splitlines() if line.startswith("ERROR")]
    assert res.returncode != 0 and len(errors) == 1 and "someone/s5 failed" in errors[0], res.stdout + res.stderr
    assert errors[0].endswith(f"the archive is kept at {archive.resolve()}")
    assert "| CAPI-SDRi (dB) | 8.489 | [7.901, 9.104] |" in card_of(archive)
    assert "rexp/tag\\_blocks\\_4c/valid.loss.best.pth (packed as tagger/model.pth" in card_of(archive)
