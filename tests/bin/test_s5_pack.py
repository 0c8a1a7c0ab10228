"""Stage 9: pack a system with espnet2's packing code, unpack it, decode from it; upload offline."""
from __future__ import annotations

import os
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

MINI_CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"


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
    (score / "results.json").write_text("{}\n")
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
    assert exc.value.code == 2 and err.startswith("ERROR: cannot upload") and "Traceback" not in err
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
