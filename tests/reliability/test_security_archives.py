"""Security catalogue: archives stay in their folder (see reliability_cases.SECURITY_CASES).

A packed system is made by our own pack step (``s5_pack pack``) from small stand-in model files
(packing and unpacking never load them); each attack is that system's members plus one crafted
member or a crafted ``meta.yaml``/config, written as .zip, .tgz or .tar. Every refused unpack must
give one ``ERROR:`` line naming the archive and the member, exit 2, change nothing anywhere under
the test folder (out dir, its parents, the folder "outside", the archives) and run no payload; the
legitimate archive then still unpacks to the same printed lines.
"""
from __future__ import annotations

import io
import json
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import List, Mapping, Optional, Sequence, Tuple

import pytest
import yaml

from espnet2_ext.bin import s5_pack
from espnet2_ext.s5.calibration import Calibration
from reliability_cases import covers
from reliability_tools import expect_error, listing, recipe_copy, run_sh

Entry = Tuple[str, str, bytes]     # (kind, member name, data or link target): kind in ZIP_TYPES / TAR_TYPES
ZIP_TYPES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "chardev": stat.S_IFCHR}
TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE}


# ------------------------------------------------------------------------------ the legitimate system
@pytest.fixture(scope="module")
def legit(tmp_path_factory) -> SimpleNamespace:
    """A system packed by our pack step as .zip, .tgz and .tar, and its members (name, bytes)."""
    root = tmp_path_factory.mktemp("legit")
    weights = root / "checkpoint" / "m2d.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"stand-in M2D weights")
    models = {}
    for name, conf in (("tagger", {"tagger_conf": {"weight_file": str(weights)}}), ("separator", {})):
        (root / "exp" / name).mkdir(parents=True)
        (root / "exp" / name / "config.yaml").write_text(yaml.safe_dump({"model": name, **conf}))
        models[name] = root / "exp" / name / "valid.loss.best.pth"
        models[name].write_bytes(f"{name} weights".encode())
    calibration = root / "exp" / "calibration.json"
    calibration.write_text(json.dumps(Calibration([0.3] * 18, 0.2, {"objective": "accuracy"}).to_json()))
    score = write_score_folder(root / "exp" / "decode" / "score")
    archives = {fmt: s5_pack.pack_system(models["tagger"], models["separator"], root / "packed" / f"sys.{fmt}",
                                         score, calibration) for fmt in ("zip", "tgz", "tar")}
    with zipfile.ZipFile(archives["zip"]) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    return SimpleNamespace(root=root, models=models, calibration=calibration, archives=archives,
                           members=members)


def write_score_folder(score: Path) -> Path:
    """A stage-8 score folder: RESULTS.md, results.json, report/index.html and report/media/a.png."""
    (score / "report" / "media").mkdir(parents=True)
    (score / "RESULTS.md").write_text("# results\n")
    (score / "results.json").write_text(json.dumps({      # a minimal results.json of s5_score (the model card
        "CAPI-SDRi": {"mean": 5.0}, "label_metrics": {"accuracy_mix": 50.0, "accuracy_src": 60.0},   # reads it)
        "details": []}))
    (score / "report" / "index.html").write_text("<html></html>\n")
    (score / "report" / "media" / "a.png").write_bytes(b"png")
    return score


@pytest.fixture()
def area(tmp_path, monkeypatch, legit) -> SimpleNamespace:
    """cwd ``work`` (like the recipe folder), a folder ``outside`` and an unpack folder not made yet."""
    (tmp_path / "work").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "outside.pth").write_bytes(b"not from the archive")
    monkeypatch.chdir(tmp_path / "work")
    return SimpleNamespace(root=tmp_path, outside=tmp_path / "outside", marker=tmp_path / "outside" / "MARKER",
                           outdir=Path("exp/packed/sys"), legit=legit)


def snapshot(area: SimpleNamespace) -> Tuple[List[str], List[str]]:
    """Every entry (folders, files, links) under the test folder, and the legitimate system's files."""
    entries = sorted(str(p.relative_to(area.root)) + ("/" if p.is_dir() and not p.is_symlink() else "")
                     for p in area.root.rglob("*"))
    return entries, listing(area.legit.root)


def printed_lines(argv: Sequence[str], capsys) -> List[str]:
    capsys.readouterr()
    s5_pack.main(list(argv))
    return capsys.readouterr().out.splitlines()


def assert_legit_still_unpacks(area: SimpleNamespace, capsys) -> None:
    """The archive made by our pack step unpacks into the same folder, printing what run.sh reads."""
    out = area.outdir
    lines = printed_lines(["unpack", "--archive", str(area.legit.archives["zip"]), "--outdir", str(out)], capsys)
    assert lines == [f"tagger_model={out}/tagger/model.pth", f"separator_model={out}/separator/model.pth",
                     f"calibration={out}/calibration.json"]
    assert sorted(listing(out)) == sorted(name for name, _ in area.legit.members)


def refused(area: SimpleNamespace, archive: Path, capsys, *needles: str, options: Sequence[str] = (),
            outdir: Optional[Path] = None) -> str:
    """Unpack ``archive``: one ERROR line holding ``needles``, exit 2, nothing changed anywhere."""
    before = snapshot(area)
    message = expect_error(s5_pack.main, ["unpack", "--archive", str(archive), "--outdir",
                                          str(outdir or area.outdir), *options], capsys, *needles)
    assert "\n" not in message, message
    assert snapshot(area) == before, "the refused unpack created, changed or removed something"
    assert not area.marker.exists(), "the payload ran"
    assert_legit_still_unpacks(area, capsys)
    return message


# ------------------------------------------------------------------------------ crafting
def base_entries(area: SimpleNamespace, replace: Mapping[str, bytes] = {}) -> List[Entry]:
    """The legitimate members as entries, the contents of those in ``replace`` replaced."""
    assert set(replace) <= {name for name, _ in area.legit.members}, replace.keys()
    return [("file", name, replace.get(name, data)) for name, data in area.legit.members]


def with_content(area: SimpleNamespace, name: str, data: bytes) -> List[Entry]:
    """The legitimate members with member ``name`` holding ``data``."""
    return base_entries(area, {name: data})


def meta_with(area: SimpleNamespace, **files: object) -> bytes:
    """The legitimate meta.yaml with ``files`` entries replaced."""
    meta = yaml.safe_load(dict(area.legit.members)["meta.yaml"])
    meta["files"].update(files)
    return yaml.safe_dump(meta).encode()


def craft(area: SimpleNamespace, fmt: str, entries: Sequence[Entry], compress: bool = True) -> Path:
    """Write ``entries`` as ``attack.<fmt>`` (zip: Unix file types in the external attributes)."""
    path = area.root / "in" / f"attack.{fmt}"
    path.parent.mkdir(exist_ok=True)
    if fmt == "zip":
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
            warnings.simplefilter("ignore")                            # "Duplicate name"
            for kind, name, data in entries:
                info = zipfile.ZipInfo(name + ("/" if kind == "dir" else ""))
                info.external_attr = (ZIP_TYPES[kind] | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
                zf.writestr(info, data)
        return path
    with tarfile.open(path, "w:gz" if fmt == "tgz" else "w") as tf:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            info.type = TAR_TYPES[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = data.decode()
            if kind == "file":
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return path


# ------------------------------------------------------------------------------ members
@covers("archive_member_dotdot")
@pytest.mark.parametrize("fmt, name", [("zip", "../escape.txt"), ("tgz", "../escape.txt"),
                                       ("tar", "report/../../../../escape.txt")])
def test_member_climbing_out_is_refused(area, capsys, fmt, name):
    archive = craft(area, fmt, [*base_entries(area), ("file", name, b"escaped")])
    refused(area, archive, capsys, str(archive), ascii(name), "climbs out of the folder with '..'")


@covers("archive_member_absolute")
@pytest.mark.parametrize("fmt", ["zip", "tar"])
def test_absolute_member_is_refused(area, capsys, fmt):
    name = str(area.outside / "absolute.txt")
    archive = craft(area, fmt, [*base_entries(area), ("file", name, b"escaped")])
    refused(area, archive, capsys, str(archive), ascii(name), "is an absolute path")


@covers("archive_member_symlink")
@pytest.mark.parametrize("fmt, link, target, then", [
    ("zip", "report/leak", "/etc/passwd", None),
    ("tar", "report/leak", "/etc/passwd", None),
    ("tgz", "report/media2", "{outside}", "report/media2/planted.txt"),   # a file written through the link
])
def test_symlink_member_is_refused(area, capsys, fmt, link, target, then):
    target = target.format(outside=area.outside)
    entries = [*base_entries(area), ("symlink", link, target.encode())]
    entries += [("file", then, b"planted")] if then else []
    archive = craft(area, fmt, entries)
    refused(area, archive, capsys, str(archive), ascii(link), "is a symbolic link")


@covers("archive_member_hardlink")
@pytest.mark.parametrize("fmt, target", [("tar", "/etc/passwd"), ("tgz", "../../../outside/outside.pth")])
def test_hardlink_member_is_refused(area, capsys, fmt, target):
    archive = craft(area, fmt, [*base_entries(area), ("hardlink", "report/leak", target.encode())])
    refused(area, archive, capsys, str(archive), "'report/leak'", "is a hard link")


@covers("archive_member_special")
@pytest.mark.parametrize("fmt, kind, needle", [("tar", "fifo", "is a FIFO"),
                                               ("tgz", "chardev", "is a character device"),
                                               ("zip", "chardev", "is a special file")])
def test_device_and_fifo_members_are_refused(area, capsys, fmt, kind, needle):
    archive = craft(area, fmt, [*base_entries(area), (kind, "report/dev", b"")])
    refused(area, archive, capsys, str(archive), "'report/dev'", needle)


@covers("archive_member_duplicate")
@pytest.mark.parametrize("fmt, extra, needle", [
    ("zip", ("file", "tagger/model.pth", b"second weights"), "'tagger/model.pth' occurs twice"),
    ("tar", ("file", "tagger/model.pth", b"second weights"), "'tagger/model.pth' occurs twice"),
    ("zip", ("dir", "report/index.html", b""), "'report/index.html/' occurs twice"),
    ("tgz", ("file", "report/index.html/x", b"x"), "'report/index.html' is a file and also a folder"),
])
def test_duplicate_members_are_refused(area, capsys, fmt, extra, needle):
    archive = craft(area, fmt, [*base_entries(area), extra])
    refused(area, archive, capsys, str(archive), needle)


@covers("archive_member_control_char")
@pytest.mark.parametrize("where", ["member", "meta", "outdir"])
def test_newline_cannot_inject_a_printed_line(area, capsys, where):
    injected = "report/x\ntagger_model=/etc/passwd"
    if where == "outdir":                   # run.sh names the folder after the archive
        refused(area, area.legit.archives["zip"], capsys, "--outdir", "control character",
                outdir=Path("exp/packed/x\ntagger_model=/etc"))
        return
    entries = (with_content(area, "meta.yaml", meta_with(area, tagger_model=injected)) if where == "meta"
               else [*base_entries(area), ("file", injected, b"x")])
    archive = craft(area, "zip", entries)
    refused(area, archive, capsys, str(archive), "'meta.yaml'" if where == "meta" else ascii(injected),
            "control character")


@covers("archive_bomb")
@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_archive_bomb_over_the_cap_is_refused(area, capsys, fmt):
    bomb = ("file", "report/bomb.bin", bytes(3_000_000))          # 3 MB of zeros: a few kB packed
    archive = craft(area, fmt, [*base_entries(area), bomb])
    assert archive.stat().st_size < 100_000
    refused(area, archive, capsys, str(archive), "'report/bomb.bin'", "over the limit of 0.001 GB",
            "raise --max_unpacked_gb", options=["--max_unpacked_gb", "0.001"])
    printed_lines(["unpack", "--archive", str(archive), "--outdir", "raised", "--max_unpacked_gb", "0.01"], capsys)
    assert Path("raised/report/bomb.bin").stat().st_size == 3_000_000     # the option raises the cap


@covers("archive_bomb_run_sh")
def test_run_sh_passes_the_cap_to_the_unpacker(area, tmp_path):
    bomb = ("file", "report/bomb.bin", bytes(3_000_000))
    archive = craft(area, "zip", [*base_entries(area), bomb])
    recipe = recipe_copy(tmp_path / "recipe")
    res = run_sh(recipe, "--stage", "7", "--stop-stage", "7", "--packed_model", str(archive),
                 "--max_unpacked_gb", "0.001")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "'report/bomb.bin'" in errors[0] and "0.001 GB" in errors[0], out
    assert listing(recipe / "exp") in (None, []), listing(recipe / "exp")   # no packed/, no decode folder


@covers("archive_cap_option_bad")
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "4GB"])
def test_bad_cap_option_is_one_error(area, capsys, value):
    refused(area, area.legit.archives["zip"], capsys, "--max_unpacked_gb", f"{value!r} is not a finite number > 0",
            options=["--max_unpacked_gb", value])


# ------------------------------------------------------------------------------ meta.yaml and YAML members
@covers("archive_meta_outside_path")
@pytest.mark.parametrize("path, needle", [("../../outside.pth", "climbs out of the folder with '..'"),
                                          ("/etc/passwd", "is an absolute path"),
                                          ("report", "the archive does not hold"),
                                          ("tagger/missing.pth", "the archive does not hold")])
def test_meta_naming_a_path_outside_is_refused(area, capsys, path, needle):
    (area.root / "work" / "exp").mkdir()
    (area.root / "work" / "exp" / "outside.pth").write_bytes(b"not from the archive")   # where ../../ leads
    archive = craft(area, "zip", with_content(area, "meta.yaml", meta_with(area, tagger_model=path)))
    refused(area, archive, capsys, str(archive), "'meta.yaml'", "files.tagger_model", needle)


@covers("archive_meta_wrong_type")
@pytest.mark.parametrize("member, content, needle", [
    ("m2d_weight_reference.yaml", {"path": ["a.pth", "b.pth"], "digest": "sha256:0"}, "path = ['a.pth', 'b.pth'] "
                                                                                      "is not a string"),
    ("m2d_weight_reference.yaml", {"path": "checkpoint/m2d.pth", "digest": 5}, "digest = 5 is not a string"),
    ("m2d_weight_reference.yaml", ["path", "digest"], "is not a mapping"),
    ("meta.yaml", ["files", "yaml_files"], "'meta.yaml' is a list, not a mapping"),
    ("meta.yaml", {"files": {"tagger_model": {"a": 1}}, "yaml_files": {}}, "something else than a string"),
])
def test_malformed_meta_or_reference_is_one_error(area, capsys, member, content, needle):
    archive = craft(area, "zip", with_content(area, member, yaml.safe_dump(content).encode()))
    refused(area, archive, capsys, str(archive), member, needle)


@covers("archive_yaml_python_tag")
@pytest.mark.parametrize("member", ["tagger/config.yaml", "meta.yaml", "m2d_weight_reference.yaml"])
def test_yaml_member_with_python_tag_runs_nothing(area, capsys, member):
    payload = f"!!python/object/apply:os.system ['touch {area.marker}']\n".encode()
    archive = craft(area, "tgz", with_content(area, member, payload))
    refused(area, archive, capsys, str(archive), ascii(member), "is not plain YAML", "python/object/apply")


# ------------------------------------------------------------------------------ packing
@covers("pack_score_link_outside")
@pytest.mark.parametrize("link", ["report/media/leak.png", "RESULTS.md", "report/media2"])
def test_pack_refuses_a_link_out_of_the_score_folder(area, capsys, link):
    secret = area.outside / "secret.txt"
    secret.write_text("private key\n")
    score = write_score_folder(area.root / "work" / "exp" / "decode" / "score")
    (score / "report" / "media" / "b.png").symlink_to("a.png")              # inside: packed as the file
    target = area.outside if link == "report/media2" else secret            # a folder, or a file, outside
    if (score / link).exists():
        (score / link).unlink()
    (score / link).symlink_to(target)
    argv = ["pack", "--tagger_model", str(area.legit.models["tagger"]), "--separator_model",
            str(area.legit.models["separator"]), "--score_dir", str(score), "--outpath", "exp/packed/sys.zip"]
    before = snapshot(area)
    message = expect_error(s5_pack.main, argv, capsys, f"--score_dir {score}", f"{link} is a link to "
                           f"{target.resolve()}, outside the score folder", "remove it")
    assert "\n" not in message and snapshot(area) == before
    (score / link).unlink()                                                # the score folder made legitimate
    printed_lines(argv, capsys)
    with zipfile.ZipFile("exp/packed/sys.zip") as zf:
        packed = {name: zf.read(name) for name in zf.namelist()}
    assert b"private key\n" not in packed.values() and packed["report/media/b.png"] == b"png"
