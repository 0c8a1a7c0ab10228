"""Output destinations are checked before any work: every CLI names the path and the fix."""
import os

import pytest

from espnet2_ext.bin import s5_inference, s5_leaderboard, s5_score, s5_submission, s5_synthesize
from espnet2_ext.errors import S5InputError
from espnet2_ext.output_paths import check_output_dir, check_output_file


def test_a_file_where_a_folder_is_needed_and_the_reverse(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(S5InputError, match="a file of that name exists, but a folder is needed"):
        check_output_dir(tmp_path / "f", "--output_dir")
    with pytest.raises(S5InputError, match="is a file, so the folder cannot be created under it"):
        check_output_dir(tmp_path / "f" / "sub", "--output_dir")
    with pytest.raises(S5InputError, match="is a folder, but a file is written there"):
        check_output_file(tmp_path, "--output")
    assert check_output_dir(tmp_path / "new" / "deeper", "--output_dir") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()                       # checking creates nothing


def test_names_and_paths_too_long(tmp_path):
    with pytest.raises(S5InputError, match="longer than the 255 bytes"):
        check_output_dir(tmp_path / ("x" * 300), "--output_dir")
    deep = tmp_path.joinpath(*(["y" * 200] * 25))
    with pytest.raises(S5InputError, match="the path is longer than"):
        check_output_file(deep / "out.md", "--output")


@pytest.fixture
def read_only_folder(tmp_path, tmpfs):
    """A folder nobody may write in: a read-only tmpfs mount as root (root ignores permission
    bits, but not a read-only mount; CI runs as root), a folder without write bits otherwise."""
    if os.geteuid() == 0:
        yield tmpfs("ro", "ro,size=64k")
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    yield ro
    ro.chmod(0o755)


def test_a_read_only_folder(read_only_folder):
    with pytest.raises(S5InputError, match="not writable|read-only file system"):
        check_output_dir(read_only_folder / "out", "--output_dir")
    with pytest.raises(S5InputError, match="not writable|read-only file system"):
        check_output_file(read_only_folder / "results.json", "--output")
    assert not (read_only_folder / "out").exists()


@pytest.mark.parametrize("main, args", [
    (s5_inference.main, ["--soundscape_dir", "{d}", "--separator_ckpt", "{d}/x.pth", "--output_dir", "{f}"]),
    (s5_score.main, ["--soundscape_dir", "{d}", "--oracle_target_dir", "{d}", "--estimate_dir", "{d}",
                     "--output_dir", "{f}"]),
    (s5_submission.main, ["--eval_estimate_dir", "{d}", "--eval_soundscape_dir", "{d}", "--dev_results",
                          "{d}/r.json", "--author", "A", "--affiliation", "B", "--submission_number", "1",
                          "--output_dir", "{f}"]),
    (s5_leaderboard.main, ["--exp", "{d}", "--output", "{d}"]),
    (s5_synthesize.main, ["datadir", "--soundscape_dir", "{d}", "--out_dir", "{f}"]),
])
def test_every_cli_stops_at_a_bad_destination_before_work(tmp_path, capsys, main, args):
    (tmp_path / "file").write_text("x")
    cmd = [a.format(d=tmp_path, f=tmp_path / "file") for a in args]
    with pytest.raises(SystemExit) as exc:
        main(cmd)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("ERROR:") == 1 and "Traceback" not in err
    assert str(tmp_path) in err
