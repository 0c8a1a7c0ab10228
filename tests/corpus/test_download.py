"""Downloads against a local HTTP server: md5/sha256, resume after a cut, offline errors, unpacking."""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

from pathlib import Path

import pytest

from espnet2_ext.corpus import download as dl
from espnet2_ext.corpus.split_zip import cut_into_segments
from espnet2_ext.errors import S5InputError

FAST = dict(retries=2, backoff=0.0, timeout=5.0)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_fetch_verifies_and_skips_present_files(file_server, tmp_path):
    data = os.urandom(5000)
    md5 = file_server.add("/f.bin", data)
    remote = dl.RemoteFile(file_server.url + "/f.bin", "f.bin", md5, len(data))
    dest = dl.fetch(remote, tmp_path / "f.bin", **FAST)
    assert dest.read_bytes() == data and listing(tmp_path) == ["f.bin"]
    n = len(file_server.requests)
    dl.fetch(remote, tmp_path / "f.bin", **FAST)         # present and verified: no request
    assert len(file_server.requests) == n


def test_md5_mismatch_leaves_nothing(file_server, tmp_path):
    file_server.add("/f.bin", b"x" * 4000)
    remote = dl.RemoteFile(file_server.url + "/f.bin", "f.bin", "0" * 32)
    with pytest.raises(S5InputError) as e:
        dl.fetch(remote, tmp_path / "f.bin", **FAST)
    msg = str(e.value)
    assert "md5" in msg and "0" * 32 in msg and "removed" in msg and remote.url in msg
    assert listing(tmp_path) == []


def test_sha256_is_verified_and_a_mismatch_leaves_nothing(file_server, tmp_path):
    """GitHub release assets carry a sha256 (no md5): checked and reported like an md5."""
    data = os.urandom(4000)
    file_server.add("/asset.zip", data)
    good = dl.RemoteFile(file_server.url + "/asset.zip", "asset.zip",
                         "sha256:" + hashlib.sha256(data).hexdigest())
    assert dl.fetch(good, tmp_path / "ok" / "asset.zip", **FAST).read_bytes() == data
    wrong = "sha256:" + "0" * 64
    remote = dl.RemoteFile(file_server.url + "/asset.zip", "asset.zip", wrong)
    with pytest.raises(S5InputError) as e:
        dl.fetch(remote, tmp_path / "bad" / "asset.zip", **FAST)
    msg = str(e.value)
    assert f"downloaded {remote.url} has sha256 {hashlib.sha256(data).hexdigest()}, expected {'0' * 64}" in msg
    assert "the corrupt download was removed" in msg and f"(sha256 {'0' * 64})" in msg
    assert listing(tmp_path / "bad") == []


def test_resume_after_a_cut(file_server, tmp_path):
    data = os.urandom(10000)
    md5 = file_server.add("/big.bin", data)
    file_server.cut_once["/big.bin"] = 3000
    remote = dl.RemoteFile(file_server.url + "/big.bin", "big.bin", md5)
    dl.fetch(remote, tmp_path / "big.bin", **FAST)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert file_server.requests == [("/big.bin", None), ("/big.bin", "bytes=3000-")]
    assert listing(tmp_path) == ["big.bin"]


def test_resume_in_a_later_run(file_server, tmp_path):
    data = os.urandom(8000)
    md5 = file_server.add("/big.bin", data)
    file_server.cut_once["/big.bin"] = 2500
    remote = dl.RemoteFile(file_server.url + "/big.bin", "big.bin", md5)
    with pytest.raises(S5InputError, match="partial download .* is kept"):
        dl.fetch(remote, tmp_path / "big.bin", retries=0, backoff=0.0)
    assert listing(tmp_path) == ["big.bin.part"]
    assert (tmp_path / "big.bin.part").stat().st_size == 2500
    dl.fetch(remote, tmp_path / "big.bin", **FAST)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert file_server.requests[-1] == ("/big.bin", "bytes=2500-")


def test_offline_error_says_how_to_place_the_file(closed_port_url, tmp_path):
    remote = dl.RemoteFile(closed_port_url + "/records/1/files/a.zip", "a.zip", "ab" * 16)
    with pytest.raises(S5InputError) as e:
        dl.fetch(remote, tmp_path / "a.zip", retries=1, backoff=0.0)
    msg = str(e.value)
    assert f"cannot download {remote.url}" in msg
    assert f"Expected file: {tmp_path / 'a.zip'} (md5 {'ab' * 16})" in msg
    assert f"wget {remote.url}" in msg and "--local_data_dir" in msg
    assert listing(tmp_path) == []


def test_http_404_is_not_retried(file_server, tmp_path):
    remote = dl.RemoteFile(file_server.url + "/missing.zip", "missing.zip")
    with pytest.raises(S5InputError, match="HTTP 404"):
        dl.fetch(remote, tmp_path / "missing.zip", **FAST)
    assert len(file_server.requests) == 1


def test_checksums_from_api_else_table(file_server, tmp_path):
    archive = dl.SplitArchive("dev_set", 77, "Fake", 1, "Fake/data/dev_set")
    sources = dl.Sources(zenodo=file_server.url, github=file_server.url)
    table_file = tmp_path / "checksums.md5"
    table_file.write_text("# comment\n" + "c" * 32 + "  77/Fake.z01\n-  77/Fake.zip\n"
                          "SHA256:" + "D" * 64 + "  release/asset.zip  # GitHub digest\n")
    table = dl.read_checksum_table(table_file)
    assert table == {"77/Fake.z01": "md5:" + "c" * 32, "release/asset.zip": "sha256:" + "d" * 64}
    remotes = dl.zenodo_files(archive, sources, table)           # no API: the table
    assert [(r.name, r.checksum) for r in remotes] == [("Fake.z01", "md5:" + "c" * 32), ("Fake.zip", None)]
    assert remotes[0].url == f"{file_server.url}/records/77/files/Fake.z01"
    file_server.add("/api/records/77", json.dumps({"files": [
        {"key": "Fake.z01", "checksum": "md5:" + "a" * 32, "size": 10},
        {"key": "Fake.zip", "checksum": "md5:" + "b" * 32, "size": 20}]}).encode())
    remotes = dl.zenodo_files(archive, sources, table)
    assert [(r.checksum, r.size) for r in remotes] == [("md5:" + "a" * 32, 10), ("md5:" + "b" * 32, 20)]


@pytest.mark.parametrize("value", ["sha256:" + "a" * 63, "sha1:" + "a" * 40, "a" * 64, "md5:" + "g" * 32])
def test_checksum_table_with_a_malformed_value_names_the_line(tmp_path, value):
    table_file = tmp_path / "checksums.txt"
    table_file.write_text("-  77/Fake.zip\n" + value + "  77/Fake.z01\n")
    with pytest.raises(S5InputError, match=f"checksum table {table_file}, line 2: .* is not a checksum; "
                                           f"write md5:<32 hex digits>, sha256:<64 hex digits>"):
        dl.read_checksum_table(table_file)


def test_recipe_checksum_table_reads():
    """The table shipped with the recipe parses and lists the GitHub release assets under the
    keys the downloader looks up (their sha256 is not known yet: '-')."""
    table_file = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "local" / "checksums.txt"
    table = dl.read_checksum_table(table_file)
    names = [line.split()[1] for line in table_file.read_text().splitlines() if line and not line.startswith("#")]
    sources, digest = dl.Sources(github="http://127.0.0.1:9"), "sha256:" + "a" * 64   # no API there
    for make in (dl.m2d_file, dl.baseline_file):
        key = next(k for k in names if make(sources, {k: digest}).checksum == digest)
        assert make(sources, table).checksum == table.get(key)


def serve_split_archive(server, record, basename, members, n_segments):
    """Serve ``members`` as a split zip .z01 ... .z<n_segments> + .zip of Zenodo record
    ``record``, with the record's API JSON (md5 and size of every file)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data_len = buf.getvalue().rfind(b"PK\x01\x02") + 4    # marker + data before the CD
    segments = cut_into_segments(buf.getvalue(), -(-data_len // (n_segments + 1)))
    assert len(segments) == n_segments + 1
    names = [f"{basename}.z{i + 1:02d}" for i in range(n_segments)] + [f"{basename}.zip"]
    files = [{"key": n, "checksum": "md5:" + server.add(f"/records/{record}/files/{n}", d),
              "size": len(d)} for n, d in zip(names, segments)]
    server.add(f"/api/records/{record}", json.dumps({"files": files}).encode())


def test_ensure_archive_downloads_joins_unpacks(file_server, tmp_path):
    members = {f"Fake/data/dev_set/sound_event/train/Speech/s/{i}.txt": os.urandom(3000)
               for i in range(8)}
    serve_split_archive(file_server, 5, "Fake", members, 3)
    archive = dl.SplitArchive("dev_set", 5, "Fake", 3, "Fake/data/dev_set")
    sources = dl.Sources(zenodo=file_server.url, github=file_server.url)
    inner = dl.ensure_archive(archive, tmp_path, sources, {}, **FAST)
    assert inner == tmp_path / "Fake" / "data" / "dev_set"
    for name, data in members.items():
        assert (tmp_path / name).read_bytes() == data
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")
                or p.name.startswith(".unpacking")]
    n = len(file_server.requests)
    dl.ensure_archive(archive, tmp_path, sources, {}, **FAST)    # unpacked: nothing fetched
    assert len(file_server.requests) == n


def test_corrupt_archive_is_reported(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"garbage" * 100)
    with pytest.raises(S5InputError, match="cannot unpack .*x.zip"):
        dl.extract_zip([tmp_path / "x.zip"], tmp_path / "out")
    assert listing(tmp_path / "out") == []


def test_release_zips(file_server, tmp_path):
    """M2D weights and baseline checkpoints: fetched, unpacked to the official places."""
    sources = dl.Sources(zenodo=file_server.url, github=file_server.url)
    m2d = io.BytesIO()
    with zipfile.ZipFile(m2d, "w") as zf:
        zf.writestr(f"{dl.M2D_FOLDER}/{dl.M2D_WEIGHTS}", b"PK-weights")
    file_server.add(dl.m2d_file(sources).url[len(file_server.url):], m2d.getvalue())
    base = io.BytesIO()
    with zipfile.ZipFile(base, "w") as zf:
        for name in dl.BASELINE_CKPTS:
            zf.writestr(f"checkpoint/{name}", name.encode())
    file_server.add(dl.baseline_file(sources).url[len(file_server.url):], base.getvalue())
    ckpt = tmp_path / "checkpoint"
    folder = dl.ensure_m2d(ckpt, sources, **FAST)
    assert (folder / dl.M2D_WEIGHTS).read_bytes() == b"PK-weights"
    dl.ensure_baseline_checkpoints(ckpt, sources, **FAST)
    assert [(ckpt / n).read_bytes() for n in dl.BASELINE_CKPTS] == \
        [n.encode() for n in dl.BASELINE_CKPTS]
    assert not list(ckpt.glob(".unpacking*"))


def test_release_asset_digest_from_the_api_else_unverified(file_server, tmp_path, caplog):
    """A release asset the table does not know is checked against the sha256 digest GitHub's API
    publishes; a wrong download is refused like an md5 mismatch; with no digest anywhere the
    download is kept with a warning that prints its sha256."""
    import hashlib

    sources = dl.Sources(zenodo=file_server.url, github=file_server.url)
    assert sources.github_api == f"{file_server.url}/api/v3"
    remote = dl.m2d_file(sources)                                 # no API answer: unverified
    assert remote.checksum is None and "cannot read" in caplog.text
    body = b"weights-zip"
    file_server.add(remote.url[len(file_server.url):], body)
    dl.fetch(remote, tmp_path / "a.zip", **FAST)
    assert hashlib.sha256(body).hexdigest() in caplog.text and "not verified" in caplog.text
    api = "/api/v3/repos/nttcslab/m2d/releases/tags/v0.3.0"
    for digest, ok in ((hashlib.sha256(body).hexdigest(), True), ("0" * 64, False)):
        file_server.add(api, json.dumps({"assets": [{"name": remote.name, "size": len(body),
                                                     "digest": "sha256:" + digest}]}).encode())
        checked = dl.m2d_file(sources)
        assert (checked.checksum, checked.size) == ("sha256:" + digest, len(body))
        dest = tmp_path / f"{ok}.zip"
        if ok:
            assert dl.fetch(checked, dest, **FAST).read_bytes() == body
        else:
            with pytest.raises(S5InputError, match=f"has sha256 {hashlib.sha256(body).hexdigest()}, "
                                                   f"expected {digest}"):
                dl.fetch(checked, dest, **FAST)
            assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def tree_members(root, prefix):
    return {f"{prefix}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_stage1_official_mode_end_to_end(file_server, small_corpus, tmp_path, capsys):
    """s5_download against a fake Zenodo/GitHub: split archives of a real-layout corpus."""
    from espnet2_ext.bin import s5_download

    for archive, folder in ((dl.DEV_ARCHIVE, "dev_set"), (dl.EVAL_ARCHIVE, "eval_set")):
        serve_split_archive(file_server, archive.record, archive.basename,
                            tree_members(small_corpus / folder, archive.inner),
                            archive.n_segments)
    m2d = io.BytesIO()
    with zipfile.ZipFile(m2d, "w") as zf:
        weights = small_corpus / "checkpoint" / dl.M2D_FOLDER / dl.M2D_WEIGHTS
        zf.write(weights, f"{dl.M2D_FOLDER}/{dl.M2D_WEIGHTS}")
    sources = dl.Sources(zenodo=file_server.url, github=file_server.url)
    file_server.add(dl.m2d_file(sources).url[len(file_server.url):], m2d.getvalue())
    argv = ["--corpus_dir", str(tmp_path / "downloads"), "--data_dir", str(tmp_path / "data"),
            "--checkpoint_dir", str(tmp_path / "checkpoint"), "--zenodo_url", file_server.url,
            "--github_url", file_server.url, "--retries", "0"]
    s5_download.main(argv)
    assert "layout OK" in capsys.readouterr().out
    data = tmp_path / "data"
    assert (data / "dev_set").resolve() == \
        (tmp_path / "downloads" / dl.DEV_SET_IN_ARCHIVE).resolve()
    assert (data / "eval_set" / "synthesized" / "eval" / "soundscape" / "eval_0000.wav").is_file()
    assert (tmp_path / "checkpoint" / dl.M2D_FOLDER / dl.M2D_WEIGHTS).is_file()
    n = len(file_server.requests)
    s5_download.main(argv)                                  # everything present: no download
    assert len(file_server.requests) == n
