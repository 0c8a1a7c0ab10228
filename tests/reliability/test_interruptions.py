"""Interruptions: SIGKILL a stage, rerun the same command, and nothing is lost.

"Nothing lost" means the rerun ends exactly where an uninterrupted run ends (same
weights tensor for tensor, same decoded samples, same synthesized bytes, same
downloaded file) and no truncated file is ever left under a final name.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from espnet2_ext.corpus import download as dl
from reliability_cases import covers
from reliability_tools import (KILL_WRAPPER, PY, assert_same_state, corpus_conftest, decode_args, env, final_state,
                               listing, same_file, same_files, train, train_args)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    """Poll ``condition()`` every 10 ms while ``proc`` runs."""
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the process ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


def start_and_kill(cmd: list, log: Path, ready, what: str, max_delay=lambda: 0.0) -> None:
    """Start ``cmd`` (output to ``log``), wait for ``ready()``, then SIGKILL it at a random moment
    up to ``max_delay()`` s later; it must still be running then."""
    with open(log, "a") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env())
    try:
        wait_for(ready, proc, what)
        delay = random.uniform(0.0, max_delay())
        time.sleep(delay)
        assert proc.poll() is None, f"the process ended before the kill ({delay:.3f} s after {what})"
        proc.kill()                    # SIGKILL: no cleanup handler runs
        assert proc.wait() == -9
    finally:
        if proc.poll() is None:
            proc.kill()


def hidden_temporaries(folder: Path) -> list:
    return [f for f in listing(folder) if Path(f).name.startswith(".")]


# ============================================================================ training
@pytest.fixture
def run(tag_config, valid_dir, corpus, tmp_path) -> SimpleNamespace:
    """A training to interrupt: its exp folder, log and (fixed) command-line arguments."""
    exp = tmp_path / "exp"
    return SimpleNamespace(exp=exp, log=tmp_path / "train.log",
                           args=train_args(tag_config, exp, valid_dir, corpus))


def checkpoint_epoch(exp: Path) -> int:
    return torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["epoch"]


def rerun_and_compare(run: SimpleNamespace, reference: Path) -> str:
    """Rerun the same training command; it must resume and end with the reference's state."""
    start = run.log.stat().st_size
    res = train(run.args, run.log)
    text = run.log.read_text()
    assert res.returncode == 0, text[-3000:]
    assert "The training was resumed using" in text[start:]
    assert_same_state(final_state(run.exp), final_state(reference))
    assert listing(run.exp) == listing(reference)              # same epoch files and links
    for link in ("latest.pth", "valid.loss.best.pth"):
        assert os.readlink(run.exp / link) == os.readlink(reference / link)
    assert not hidden_temporaries(run.exp)
    return text[start:]


@covers("train_kill_random")
def test_train_kill_at_random_point(run, reference_training):
    def one_epoch() -> float:
        """Half of espnet2's estimate for the 2 epochs left (printed when epoch 2 starts)."""
        left = re.search(r"2/3epoch started\. Estimated time to finish: ([0-9.]+) seconds", run.log.read_text())
        return 0.5 * float(left.group(1))

    start_and_kill([PY, "-m", "espnet2_ext.bin.s5_tag_train", *run.args], run.log,
                   lambda: "2/3epoch started" in run.log.read_text(), "epoch 2 started", one_epoch)
    assert "The training was finished" not in run.log.read_text()
    rerun_and_compare(run, reference_training)


@covers("train_kill_in_checkpoint_save")
def test_train_kill_while_writing_checkpoint(run, reference_training):
    assert train(run.args, run.log, wrapper=["checkpoint", "2"]).returncode == -9
    assert checkpoint_epoch(run.exp) == 1                  # the previous, complete checkpoint
    assert [f for f in hidden_temporaries(run.exp) if f.startswith(".checkpoint.pth.")]  # the cut write
    rerun_and_compare(run, reference_training)


@covers("train_kill_before_epoch_file")
def test_train_kill_before_epoch_file(run, reference_training):
    assert train(run.args, run.log, wrapper=["epoch_file", "2"]).returncode == -9
    assert checkpoint_epoch(run.exp) == 2 and not (run.exp / "2epoch.pth").exists()
    rerun_log = rerun_and_compare(run, reference_training)
    assert "2epoch.pth is missing (the job was killed while saving)" in rerun_log
    assert (run.exp / "valid.loss.best.pth").resolve().is_file()


@covers("resume_damaged_checkpoint")
def test_resume_from_damaged_checkpoint(run, reference_training):
    run.exp.mkdir()
    damaged = (reference_training / "checkpoint.pth").read_bytes()[:5000]
    (run.exp / "checkpoint.pth").write_bytes(damaged)
    res = train(run.args, run.log)
    text = run.log.read_text()
    assert res.returncode == 2, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and f"cannot resume training from {run.exp / 'checkpoint.pth'}" in errors[0]
    assert "Delete it to restart this training from epoch 1" in errors[0]
    assert (run.exp / "checkpoint.pth").read_bytes() == damaged      # left for the user to inspect


# ============================================================================ decoding
def decode_cmd(models, test_set, out: Path, wrapper=()) -> list:
    runner = [PY, str(KILL_WRAPPER), *wrapper] if wrapper else [PY, "-m"]
    return [*runner, "espnet2_ext.bin.s5_inference", *decode_args(models, test_set.soundscape, out)]


@covers("decode_kill_random")
def test_decode_kill_and_rerun(models, test_set, reference_decode, tmp_path):
    out = tmp_path / "out"
    done = random.choice([1, 2])          # of the 3 soundscapes
    start_and_kill(decode_cmd(models, test_set, out), tmp_path / "decode.log",
                   lambda: len(list((out / "records").glob("*.json"))) >= done, f"{done} soundscape(s)")
    assert not (out / "estimates.json").exists()
    subprocess.run(decode_cmd(models, test_set, out), check=True, capture_output=True, env=env())
    same_files(out, reference_decode)


@covers("decode_kill_in_wav_write")
def test_decode_kill_while_writing_a_wav(models, test_set, reference_decode, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(decode_cmd(models, test_set, out, wrapper=["wav", "2"]), capture_output=True,
                         env=env())
    assert res.returncode == -9
    temps = hidden_temporaries(out)
    assert len(temps) == 1 and temps[0].endswith(".wav.part")      # the cut write, hidden
    for f in sorted(set(listing(out)) - set(temps)):                 # final names: complete files
        same_file(out / f, reference_decode / f)
    subprocess.run(decode_cmd(models, test_set, out), check=True, capture_output=True, env=env())
    same_files(out, reference_decode)                                 # temporaries removed too


# ============================================================================ synthesis
@covers("synth_kill_between_files")
def test_synthesis_kill_and_rerun(corpus, valid_dir, tmp_path):
    out = tmp_path / "valid"
    cmd = ["espnet2_ext.bin.s5_synthesize", "render", "--metadata_list",
           str(corpus / "dev_set" / "metadata" / "valid.json"), "--corpus_root", str(corpus),
           "--out_dir", str(out)]
    res = subprocess.run([PY, str(KILL_WRAPPER), "wav", "2", *cmd], capture_output=True, env=env())
    assert res.returncode == -9
    assert not list((out / "soundscape").glob("*.wav"))               # no mixture marked done
    subprocess.run([PY, "-m", *cmd], check=True, capture_output=True, env=env())
    temps = hidden_temporaries(out)
    assert temps and all(f.endswith(".wav.part") for f in temps)     # never listed as *.wav
    for sub in ("soundscape", "oracle_target"):
        names = sorted(p.name for p in (out / sub).glob("*.wav"))
        assert names == sorted(p.name for p in (valid_dir / sub).glob("*.wav")), sub
        for name in names:
            assert (out / sub / name).read_bytes() == (valid_dir / sub / name).read_bytes(), name


# ============================================================================ download
class Trickle:
    """A socket writer that sends 64 KiB at a time with a pause (a slow server)."""

    def __init__(self, raw, pause: float = 0.02):
        self.raw, self.pause = raw, pause

    def write(self, data) -> int:
        view = memoryview(data)
        for i in range(0, len(view), 1 << 16):
            self.raw.write(view[i:i + (1 << 16)])
            self.raw.flush()
            time.sleep(self.pause)
        return len(view)

    def __getattr__(self, name):
        return getattr(self.raw, name)


@pytest.fixture
def slow_server():
    server = corpus_conftest().FileServer()
    handler = server.httpd.RequestHandlerClass

    class SlowHandler(handler):
        def setup(self):
            super().setup()
            self.wfile = Trickle(self.wfile)

    server.httpd.RequestHandlerClass = SlowHandler
    yield server
    server.close()


@covers("download_kill")
def test_download_kill_and_resume(slow_server, tmp_path):
    data = os.urandom(3 * dl.CHUNK + 12345)
    md5 = slow_server.add("/records/1/files/big.zip", data)
    url, dest = slow_server.url + "/records/1/files/big.zip", tmp_path / "downloads" / "big.zip"
    part = dest.with_name("big.zip.part")
    code = ("import sys; from pathlib import Path; from espnet2_ext.corpus import download as dl; "
            "dl.fetch(dl.RemoteFile(sys.argv[1], 'big.zip', sys.argv[2]), Path(sys.argv[3]), retries=0)")
    start_and_kill([PY, "-c", code, url, md5, str(dest)], tmp_path / "download.log",
                   lambda: part.exists() and part.stat().st_size >= dl.CHUNK, "the first MiB")
    assert not dest.exists()
    kept = part.stat().st_size
    assert dl.CHUNK <= kept < len(data) and part.read_bytes() == data[:kept]
    dl.fetch(dl.RemoteFile(url, "big.zip", md5), dest, retries=0)     # rerun: resumes
    assert slow_server.requests[-1] == ("/records/1/files/big.zip", f"bytes={kept}-")
    assert hashlib.md5(dest.read_bytes()).hexdigest() == md5 and not part.exists()
    assert listing(dest.parent) == ["big.zip"]
