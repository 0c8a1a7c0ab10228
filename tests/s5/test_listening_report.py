"""The listening report written by s5_score, on a small generated set (32 kHz, 2 s soundscapes).

The browser test opens the page in headless Debian chromium (installed with apt-get
when run as root on Debian; skipped with the reason otherwise, or with
DCASE26T4_NO_BROWSER=1), reads the page's own media check and takes a screenshot.
"""
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.bin import s5_score
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_wav
from espnet2_ext.s5 import listening_report as lr
from espnet2_ext.s5.listening_report.media import AUDIO_RATE

SR, T = 32000, 64000
ODD = 'odd &<i>"name\'#%'                      # a soundscape name to escape and encode
SCENES = {  # name: (reference labels, estimate labels: same slot -> near copy of that reference)
    "good": (["Speech", "Dishes"], ["Speech", "Dishes"]),
    "wrong_label": (["Cough", "Typing"], ["Cough", "Pour"]),       # a miss and a false alarm
    "extra": (["Doorbell"], ["Doorbell", "Speech"]),               # a false alarm past the refs
    "empty_fa": ([], ["Speech"]),                                  # no target, a false alarm
    "empty": ([], []),                                             # no target, nothing found
    ODD: (["Speech"], ["Speech"]),
}


@pytest.fixture(scope="module")
def testset(tmp_path_factory):
    """soundscape/, oracle_target/ and estimates (with estimates.json); returns the root."""
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    est_json = {}
    for k, (scene, (refs, ests)) in enumerate(SCENES.items()):
        t = np.arange(T) / SR
        ref_wavs = [(0.1 * np.sin(2 * np.pi * (300 + 200 * i) * t) * (1 + np.sin(2 * np.pi * 2 * t)))
                    .astype(np.float32) for i in range(len(refs))]
        mix = 0.01 * rng.standard_normal((4, T)).astype(np.float32) + (sum(ref_wavs) if refs else 0)
        write_wav(root / "soundscape" / f"{scene}.wav", mix, SR)
        for i, (lab, ref) in enumerate(zip(refs, ref_wavs)):
            write_wav(root / "oracle_target" / f"{scene}_{i}_{lab}.wav", ref, SR)
        est_json[scene] = []
        for i, lab in enumerate(ests):
            wav = ref_wavs[i] if i < len(refs) else mix[0]
            wav = wav + (0.02 + 0.01 * k) * rng.standard_normal(T).astype(np.float32)
            write_wav(root / "est" / f"{scene}_{i}_{lab}.wav", wav, SR)
            est_json[scene].append({"filename": f"{scene}_{i}_{lab}.wav", "label": lab,
                                    "probability": 0.5 + 0.1 * i})
    (root / "oracle_target").mkdir(exist_ok=True)
    (root / "est").mkdir(exist_ok=True)
    (root / "est" / "estimates.json").write_text(json.dumps(est_json))
    return root


def _score(root, out, *extra):
    s5_score.main(["--soundscape_dir", str(root / "soundscape"), "--oracle_target_dir",
                   str(root / "oracle_target"), "--estimate_dir", str(root / "est"),
                   "--output_dir", str(out), "--system", "sys <&>", *extra])


class _Media(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag in ("img", "audio", "a") and attrs.get("src", attrs.get("href")):
            self.links.append((tag, attrs.get("src", attrs.get("href"))))


@pytest.fixture(scope="module")
def report(testset, tmp_path_factory):
    """A report with the default options but n=1: returns (score dir, index.html text)."""
    out = tmp_path_factory.mktemp("score")
    _score(testset, out, "--report_n", "1")
    return out, (out / lr.REPORT_INDEX).read_text(encoding="utf-8")


def test_selection_best_median_worst_then_no_target():
    details = [{"soundscape": f"s{i}", "ref_labels": ["Speech", "silence", "silence"],
                "metrics": [{"metric": "CAPI-SDRi", "value": float(i)}]} for i in range(7)]
    details.append({"soundscape": "z", "ref_labels": ["silence"] * 3,
                    "metrics": [{"metric": "CAPI-SDRi", "value": None}]})
    chosen = lr.select_soundscapes(details, n=2, extra=["s1"])
    assert list(chosen) == ["s6", "s5", "s4", "s3", "s1", "s0", "z"]
    assert chosen["s6"] == ["best"] and chosen["s3"] == ["median"] and chosen["s1"] == ["worst", "asked for"]
    assert chosen["z"] == ["no target"]
    assert list(lr.select_soundscapes(details, n=0)) == ["z"]
    assert len(lr.select_soundscapes(details, n=10)) == 8        # overlapping groups: once each
    with pytest.raises(S5InputError):
        lr.check_options(["s0"], 1, ["nope"], "mp3", 10.0)
    with pytest.raises(S5InputError):
        lr.check_options(["s0"], -1, [], "mp3", 10.0)


def test_page_structure_links_escaping_and_size(report, testset):
    out, page = report
    parser = _Media()
    parser.feed(page)
    media = [(tag, src) for tag, src in parser.links if tag in ("img", "audio")]
    assert len(media) > 10
    total = len(page.encode())
    for tag, src in media:
        assert not re.match(r"^([a-z]+:|/|\.\.)", src), src              # relative, inside the folder
        path = out / "report" / unquote(src)
        assert path.is_file() and path.stat().st_size > 0, src
        total += path.stat().st_size
    n_clips = sum(tag == "audio" for tag, _ in media)
    assert n_clips == sum(tag == "img" for tag, _ in media)
    rows = page.count("<section ")
    assert total <= lr.size_budget(n_clips, rows, 2.0), total
    for absolute in (str(testset), str(out), str(Path.home()), os.getcwd()):
        assert absolute not in page
    # escaping: the odd soundscape and system names appear only escaped
    assert "odd &amp;&lt;i&gt;&quot;name&#x27;#%" in page and "<i>" not in page
    assert "sys &lt;&amp;&gt;" in page
    # rows: all selected (n=1: best, median, worst + the two without target + ...)
    assert page.count("<section ") == len(lr.select_soundscapes(
        json.loads((out / "results.json").read_text())["details"], 1))
    assert "✗ miss" in page and "✗ false alarm" in page and "✓ match" in page
    assert re.search(r"SDR -?\d+\.\d\d dB / SDRi -?\d+\.\d\d dB", page)
    assert "(p = 0.600)" in page                                        # probabilities shown
    assert not list(out.glob(".report*"))                               # nothing left aside
    md = (out / "RESULTS.md").read_text()
    assert f"[{lr.REPORT_INDEX}]({lr.REPORT_INDEX})" in md


def test_pair_sdr_matches_the_metric(report, testset):
    """A matched pair's SDR on the page is SDR(estimate, reference) of the full-rate files."""
    out, page = report
    ref, _ = sf.read(testset / "oracle_target" / "good_0_Speech.wav", dtype="float32")
    est, _ = sf.read(testset / "est" / "good_0_Speech.wav", dtype="float32")
    eps = np.finfo(np.float32).eps
    sdr = 10 * np.log10((np.sum(ref.astype(np.float64) ** 2) + eps) /
                        (np.sum((ref.astype(np.float64) - est) ** 2) + eps))
    good = page[page.index("<h3>good<"):]
    assert f"SDR {sdr:.2f} dB" in good[:good.index("</section>")]


def test_wav_copies_rerun_replaces_and_report_off(testset, tmp_path):
    out = tmp_path / "score"
    _score(testset, out, "--report_n", "0", "--report_soundscapes", "good",
           "--report_audio_format", "wav", "--report_max_seconds", "1.5")
    wavs = sorted((out / "report" / "media").rglob("*.wav"))
    assert wavs and not list((out / "report" / "media").rglob("*.mp3"))
    info = sf.info(str(wavs[0]))
    assert (info.samplerate, info.channels, info.subtype) == (AUDIO_RATE, 1, "PCM_16")
    assert info.frames == int(1.5 * AUDIO_RATE)
    assert abs(np.max(np.abs(sf.read(str(wavs[0]))[0])) - 10 ** (-1 / 20)) < 1e-3   # normalised
    page = (out / lr.REPORT_INDEX).read_text()
    assert page.count("<section ") == 3                      # good + the two without a target
    size = sum(p.stat().st_size for p in (out / "report").rglob("*") if p.is_file())
    assert size <= lr.size_budget(page.count("<audio "), 3, 1.5, "wav"), size
    (out / ".report.tmp-killed" / "media").mkdir(parents=True)   # left by a killed run
    _score(testset, out, "--report_n", "0")                  # rerun: replaced, not merged
    assert not list((out / "report" / "media").rglob("*.wav"))
    assert not list(out.glob(".report*"))
    _score(testset, tmp_path / "off", "--report", "false")
    assert not (tmp_path / "off" / "report").exists()
    assert "listening report" not in (tmp_path / "off" / "RESULTS.md").read_text()


@pytest.mark.parametrize("bad", [["--report_soundscapes", "nope"], ["--report_n", "-1"],
                                 ["--report_max_seconds", "0"]])
def test_bad_report_options_are_one_error_line(testset, tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        _score(testset, tmp_path / "r", *bad)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "Traceback" not in err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------
# a real browser
# ------------------------------------------------------------------------------------------
def _find_or_install_chromium() -> str:
    """Path of a chromium binary; installs Debian's package when possible, else pytest.skip."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("DCASE26T4_NO_BROWSER") == "1":
        pytest.skip("no chromium and DCASE26T4_NO_BROWSER=1 forbids installing it")
    if os.geteuid() != 0 or not Path("/etc/debian_version").is_file() or not shutil.which("apt-get"):
        pytest.skip("no chromium on PATH, and installing it needs root on Debian (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-qq", "-o", "DPkg::Lock::Timeout=120", "install", "-y", "chromium"]
    try:
        if subprocess.run(cmd, env=env, capture_output=True, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "-qq", "update"], env=env, capture_output=True, timeout=300)
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if res.returncode != 0:
                pytest.skip(f"apt-get install chromium failed: {res.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired:
        pytest.skip("apt-get install chromium timed out")
    if not shutil.which("chromium"):
        pytest.skip("apt-get installed no chromium binary")
    return shutil.which("chromium")


def headless(chromium: str, page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    """Run headless chromium on a file:// page (no sandbox: tests may run as root)."""
    cmd = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--allow-file-access-from-files", f"--user-data-dir={profile}",
           "--virtual-time-budget=10000", *flags, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _media_status(chromium: str, page: Path, profile: Path):
    """(data-state, text) of the page's media check after loading it in chromium."""
    res = headless(chromium, page, profile, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    status = re.search(r'<p id="load-status" data-state="(\w+)"[^>]*>([^<]*)</p>', res.stdout)
    assert status, res.stdout[:2000]
    return status.group(1), status.group(2)


def test_page_loads_in_headless_chromium(report, tmp_path):
    chromium = _find_or_install_chromium()
    out, page = report
    index = out / lr.REPORT_INDEX
    n_img, n_audio = page.count("<img "), page.count("<audio ")
    state, text = _media_status(chromium, index, tmp_path / "profile")
    assert state == "ok", text
    assert text == f"Media check: {n_img} images, {n_audio} audio clips; {n_img + n_audio} loaded, 0 errors"
    shot = tmp_path / "screenshot.png"
    res = headless(chromium, index, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1600")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    # the check is real: a copy of the folder with a missing clip and a damaged image fails
    copy = tmp_path / "copy"
    shutil.copytree(out / lr.REPORT_DIRNAME, copy)
    next(copy.rglob("*.mp3")).unlink()
    next(copy.rglob("*.png")).write_bytes(b"not a png")
    state, text = _media_status(chromium, copy / "index.html", tmp_path / "profile")
    assert state == "error" and f"{n_img + n_audio - 2} loaded, 2 errors" in text, text
