"""utils/validate_data_dir.sh: Kaldi's data-dir rules (sorted unique ids, utt2spk/spk2utt, coverage)."""
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "utils" / "validate_data_dir.sh"
UTTS = ["soundscape_0000", "soundscape_0001", "soundscape_0002"]


def make(d: Path, **override) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    files = {
        "wav.scp": "".join(f"{u} /x/{u}.wav\n" for u in UTTS),
        "utt2spk": "".join(f"{u} {u}\n" for u in UTTS),
        "spk2utt": "".join(f"{u} {u}\n" for u in UTTS),
        "labels": "".join(f"{u} Speech silence silence\n" for u in UTTS),
        "spk1.scp": "".join(f"{u} /x/{u}_0_Speech.wav\n" for u in UTTS),
    }
    files.update(override)
    for name, text in files.items():
        if text is not None:
            (d / name).write_text(text)
    return d


def validate(d: Path, *opts: str):
    return subprocess.run(["bash", str(SCRIPT), "--no-text", "--no-feats", *opts, str(d)],
                          capture_output=True, text=True)


def test_a_good_data_dir_passes(tmp_path):
    res = validate(make(tmp_path / "d"))
    assert res.returncode == 0 and "Successfully validated" in res.stdout


@pytest.mark.parametrize("override, message", [
    ({"utt2spk": None}, "utt2spk is missing"),
    ({"wav.scp": "".join(f"{u} /x\n" for u in reversed(UTTS))}, "wav.scp is not sorted"),
    ({"labels": f"{UTTS[0]} A\n{UTTS[0]} B\n{UTTS[1]} C\n{UTTS[2]} D\n"}, "labels has duplicated ids"),
    ({"spk2utt": f"{UTTS[0]} {UTTS[0]}\n"}, "spk2utt is not utt2spk inverted"),
    ({"spk1.scp": f"{UTTS[0]} /x\n"}, "spk1.scp does not list exactly the utterances"),
    ({"labels": f"{UTTS[0]}\n{UTTS[1]} a\n{UTTS[2]} b\n"}, "is not '<id> <value>'"),
])
def test_each_rule_names_the_file(tmp_path, override, message):
    res = validate(make(tmp_path / "d", **override))
    assert res.returncode == 1 and message in res.stderr and "ERROR" in res.stderr


def test_text_is_required_unless_told(tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), str(make(tmp_path / "d"))], capture_output=True, text=True)
    assert res.returncode == 1 and "text is missing" in res.stderr
