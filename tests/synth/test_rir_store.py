"""The node-wide RIR-spectrum store (espnet2_ext/synth/rir_store.py): renders identical with and
without it, files written once and reused by other processes, stale keys, corrupt files, an
unwritable folder, and the validation of ``train_data_conf.rir_store_dir``."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synth_corpus import build_corpus, circle_positions, make_rirs, scene_config, SR
from espnet2_ext.errors import S5InputError
from espnet2_ext.synth import rir_store, room as room_module
from espnet2_ext.synth.dataset import GenerateDataset
from espnet2_ext.synth.rir_store import RirStore, resolve_store_dir
from espnet2_ext.synth.room import RirCache, fft_size
from espnet2_ext.synth.sampler import check_generate_config
from espnet2_ext.synth.sofa import write_sofa

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
N_ITEMS = 6


def config(store=None, **over) -> dict:
    cfg = {"spatial_sound_scene": scene_config(duration=1.0), "nevent_range": [1, 3],
           "ninterference_range": [0, 2], "dataset_length": N_ITEMS, "fg_return": {"dry": True, "dry_channel": 0}}
    if store is not None:
        cfg["rir_store_dir"] = str(store)
    cfg.update(over)
    return cfg


def render_all(corpus: Path, store=None, rir_cache_mb: float = 0) -> list:
    ds = GenerateDataset(config(store), corpus, seed=5, rir_cache_mb=rir_cache_mb)
    return [(ds[i]["mixture"], ds[i]["dry_sources"]) for i in range(N_ITEMS)]


def assert_identical(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (mix_a, dry_a), (mix_b, dry_b) in zip(a, b):
        assert torch.equal(mix_a, mix_b)
        assert torch.equal(dry_a, dry_b)


def store_files(folder: Path) -> dict:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.npy")}


@pytest.fixture
def corpus(tmp_path) -> Path:
    return build_corpus(tmp_path / "corpus")


def test_renders_identical_with_and_without_the_store(tiny_corpus, tmp_path, monkeypatch):
    reference = render_all(tiny_corpus)
    store = tmp_path / "store"
    first = render_all(tiny_corpus, store)                 # computes and writes
    assert store_files(store), "nothing was written"
    assert_identical(reference, first)
    monkeypatch.setattr(room_module, "rir_spectra", lambda *a, **k: pytest.fail("computed, not read"))
    again = render_all(tiny_corpus, store)                 # every spectrum from the mapped files
    assert_identical(reference, again)
    with_lru = render_all(tiny_corpus, store, rir_cache_mb=64)
    assert_identical(reference, with_lru)


def test_store_spectra_are_the_computed_ones_and_mapped(tiny_corpus, tmp_path):
    sofa = tiny_corpus / "dev_set/room_ir/train/room_a.sofa"
    position = circle_positions()[3]
    nfft = fft_size(SR + 1200 - 1)
    dry = ((6, 50), 0)
    made = RirCache(0).spectra(sofa, position, SR, nfft, dry)
    cache = RirCache(0, store=RirStore(tmp_path / "s"))
    cache.spectra(sofa, position, SR, nfft, dry)             # writes
    read = cache.spectra(sofa, position, SR, nfft, dry)      # maps
    for name in ("wet", "energy", "dry"):
        assert torch.equal(getattr(made, name), getattr(read, name)), name
        assert getattr(read, name).dtype == getattr(made, name).dtype
    (file,) = (tmp_path / "s").glob("*.npy")
    if Path("/proc/self/maps").exists():                     # the tensors live on the mapped file
        maps = Path("/proc/self/maps").read_text()
        assert file.name in maps
        ranges = [tuple(int(a, 16) for a in line.split()[0].split("-"))
                  for line in maps.splitlines() if line.endswith(file.name)]
        for t in (read.wet, read.energy, read.dry):
            assert any(lo <= t.data_ptr() < hi for lo, hi in ranges)
    no_dry = cache.spectra(sofa, position, SR, nfft, None)   # another key: another file
    assert no_dry.dry is None and len(list((tmp_path / "s").glob("*.npy"))) == 2


CHILD = r"""
import json, sys, numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from espnet2_ext.synth import room
if sys.argv[5] == "no_compute":
    def fail(*a, **k):
        raise SystemExit("computed although the store holds it")
    room.rir_spectra = fail
from espnet2_ext.synth.dataset import GenerateDataset
cfg = json.loads(sys.argv[4])
ds = GenerateDataset(cfg, sys.argv[3], seed=5, rir_cache_mb=0)
np.save(sys.argv[6], np.stack([ds[i]["mixture"].numpy() for i in range(len(ds))]))
"""


def child(corpus: Path, store: Path, out: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(HERE), str(corpus),
                             json.dumps(config(store)), mode, str(out)], env=env, stderr=subprocess.PIPE, text=True)


def test_two_processes_share_one_store_written_once(tiny_corpus, tmp_path):
    reference = np.stack([m.numpy() for m, _ in render_all(tiny_corpus)])
    store = tmp_path / "store"
    writers = [child(tiny_corpus, store, tmp_path / f"w{k}.npy", "compute") for k in range(2)]   # at once
    for proc in writers:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    for k in range(2):
        assert np.array_equal(np.load(tmp_path / f"w{k}.npy"), reference)
    written = store_files(store)
    assert written and not list(store.glob(".tmp-*")), "temporary files left behind"
    reader = child(tiny_corpus, store, tmp_path / "r.npy", "no_compute")
    assert reader.wait(timeout=300) == 0, reader.stderr.read()[-2000:]
    assert np.array_equal(np.load(tmp_path / "r.npy"), reference)
    assert store_files(store) == written, "a reader rewrote the store"


def test_a_changed_sofa_file_is_never_served_stale(corpus, tmp_path):
    store = tmp_path / "store"
    old = render_all(corpus, store)
    sofa = corpus / "dev_set/room_ir/train/room_a.sofa"
    before = set(store_files(store))
    write_sofa(sofa, make_rirs(np.random.default_rng(99)), SR, circle_positions())   # same positions
    fresh = render_all(corpus)                              # no store: the truth for the new file
    served = render_all(corpus, store)
    assert_identical(fresh, served)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(old, served))
    assert set(store_files(store)) - before, "the changed file got no keys of its own"


def test_a_corrupt_or_short_file_is_recomputed_and_replaced(tiny_corpus, tmp_path, caplog):
    reference = render_all(tiny_corpus)
    store = tmp_path / "store"
    render_all(tiny_corpus, store)
    files = sorted(store.glob("*.npy"))
    assert len(files) >= 2
    files[0].write_bytes(files[0].read_bytes()[:1000])              # short
    files[1].write_bytes(b"not an npy file at all")                 # corrupt header
    with caplog.at_level(logging.WARNING, logger="espnet2_ext.synth.rir_store"):
        assert_identical(reference, render_all(tiny_corpus, store))
    assert sum("recomputing it" in r.getMessage() for r in caplog.records) >= 2
    for f in files[:2]:                                             # replaced by good files
        arr = np.load(f, mmap_mode="r")
        assert arr.dtype == np.complex64 and arr.ndim == 2 and arr.shape[0] == 4 + 1 + 1


def test_wrong_shape_is_recomputed(tiny_corpus, tmp_path):
    store = tmp_path / "store"
    render_all(tiny_corpus, store)
    victim = sorted(store.glob("*.npy"))[0]
    np.save(victim, np.zeros((2, 3), np.complex64))
    assert_identical(render_all(tiny_corpus), render_all(tiny_corpus, store))
    assert np.load(victim).shape != (2, 3)


def test_an_unwritable_folder_warns_once_and_renders(tiny_corpus, tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    reference = render_all(tiny_corpus)
    with caplog.at_level(logging.WARNING, logger="espnet2_ext.synth.rir_store"):
        out = render_all(tiny_corpus, blocker / "store")          # mkdir fails: a file is in the way
    assert_identical(reference, out)
    warned = [r for r in caplog.records if "cannot write to" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in caplog.records]


def test_a_full_disk_warns_once_and_leaves_no_temporary_file(tiny_corpus, tmp_path, caplog, monkeypatch):
    reference = render_all(tiny_corpus)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("espnet2_ext.synth.rir_store.np.save", full)
    store = tmp_path / "store"
    with caplog.at_level(logging.WARNING, logger="espnet2_ext.synth.rir_store"):
        out = render_all(tiny_corpus, store)
    assert_identical(reference, out)
    assert sum("No space left" in r.getMessage() for r in caplog.records) == 1
    assert not list(store.iterdir())


def test_the_key_names_what_makes_the_spectra(tiny_corpus, tmp_path, monkeypatch):
    s = RirStore(tmp_path)
    sofa = tiny_corpus / "dev_set/room_ir/train/room_a.sofa"
    base = s.key_path(sofa, (1.5, 0.0, 0.0), SR, 2048, ((6.0, 50.0), 0))
    others = [s.key_path(sofa, (0.0, 1.5, 0.0), SR, 2048, ((6.0, 50.0), 0)),
              s.key_path(sofa, (1.5, 0.0, 0.0), 16000, 2048, ((6.0, 50.0), 0)),
              s.key_path(sofa, (1.5, 0.0, 0.0), SR, 4096, ((6.0, 50.0), 0)),
              s.key_path(sofa, (1.5, 0.0, 0.0), SR, 2048, ((6.0, 50.0), 1)),
              s.key_path(sofa, (1.5, 0.0, 0.0), SR, 2048, None)]
    assert len({base, *others}) == 6
    assert s.key_path(sofa, (1.5, 0.0, 0.0), SR, 2048, ((6.0, 50.0), 0)) == base
    copy = tmp_path / "copy.sofa"
    shutil.copy(sofa, copy)
    assert s.key_path(copy, (1.5, 0.0, 0.0), SR, 2048, ((6.0, 50.0), 0)) != base
    monkeypatch.setattr(rir_store, "code_digest", lambda: "another torch or renderer")
    assert s.key_path(sofa, (1.5, 0.0, 0.0), SR, 2048, ((6.0, 50.0), 0)) != base


@pytest.mark.parametrize("value, words", [(5, "is not a folder path"), ("", "is not a folder path"),
                                          (True, "is not a folder path"), (["a"], "is not a folder path"),
                                          ("$S5_NO_SUCH_VARIABLE_X/store", "environment variable"),
                                          ("FILE", "exists and is not a folder")])
def test_option_validation(tmp_path, value, words, tiny_corpus):
    if value == "FILE":
        value = str(tmp_path / "f")
        Path(value).write_text("x")
    with pytest.raises(S5InputError, match="rir_store_dir.*" + words):
        check_generate_config(config(**{"rir_store_dir": value}), "--train_data_conf")
    with pytest.raises(S5InputError, match="rir_store_dir"):
        GenerateDataset(config(**{"rir_store_dir": value}), tiny_corpus)


def test_valid_option_values(tmp_path, monkeypatch):
    check_generate_config(config(tmp_path / "new" / "store"), "--train_data_conf")
    check_generate_config(config(None), "--train_data_conf")
    monkeypatch.setenv("S5_TEST_TMP", str(tmp_path))
    assert resolve_store_dir("$S5_TEST_TMP/store") == tmp_path / "store"
    assert resolve_store_dir(None) is None
