"""Kaldi-style data dirs of fixed soundscape sets (stage 3), as read by ``DataDirDataset``.

A data dir holds ``wav.scp`` (``<name> <soundscape path>``), and with oracle targets
``labels`` (``<name> <Label> <Label> silence``), ``spk1.scp`` .. ``spkN.scp`` (``-`` for a
silent slot), ``oracle_target_dir``; always ``soundscape_dir``. File names:
:mod:`espnet2_ext.s5.official`.
"""
from __future__ import annotations

import bisect
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path
from espnet2_ext.s5.labels import pad_labels
from espnet2_ext.s5.official import (CLASSES, LABELS_FILE, N_SLOTS, ORACLE_TARGET_DIR_FILE, SILENCE, SOUNDSCAPE_DIR_FILE,
                                     SOURCE_NAME_FORMS, WAV_SCP, parse_source_filename, spk_scp)

logger = logging.getLogger(__name__)


def oracle_slots(name: str, oracle_files: List[str]) -> List[str]:
    """Oracle file names of soundscape ``name`` (official regex, sorted) from a sorted list."""
    start = bisect.bisect_left(oracle_files, name)
    out = []
    for f in oracle_files[start:]:
        if not f.startswith(name):
            break
        parsed = parse_source_filename(f, name)
        if parsed is not None:
            out.append(f)
    return out


def write_datadir(soundscape_dir: Path, out_dir: Path, oracle_target_dir: Optional[Path] = None,
                  n_sources: int = N_SLOTS) -> int:
    """Write a Kaldi-style data dir for the soundscapes (see module docstring); returns their count."""
    wavs = sorted(soundscape_dir.glob("*.wav")) if soundscape_dir.is_dir() else []
    if not wavs:
        raise S5InputError(f"no soundscape .wav files in {soundscape_dir}")
    names = [w.stem for w in wavs]
    tables: Dict[str, List[str]] = {WAV_SCP: [f"{n} {os.path.abspath(w)}" for n, w in zip(names, wavs)]}
    if oracle_target_dir is not None:
        if not oracle_target_dir.is_dir():
            raise S5InputError(f"oracle target folder not found: {oracle_target_dir}")
        oracle = sorted(p.name for p in oracle_target_dir.glob("*.wav"))
        labels, spk = [], [[] for _ in range(n_sources)]
        for name in names:
            files = oracle_slots(name, oracle)
            slot_labels = [parse_source_filename(f, name)[1] for f in files]
            bad = [lab for lab in slot_labels if lab not in CLASSES]
            if bad or len(files) > n_sources:
                raise S5InputError(
                    f"oracle targets of {name} in {oracle_target_dir}: {files} (unknown labels {bad}, "
                    f"at most {n_sources} allowed); names must be {SOURCE_NAME_FORMS}")
            padded = pad_labels(slot_labels, n_sources)
            labels.append(f"{name} {' '.join(padded)}")
            for k in range(n_sources):
                path = os.path.abspath(oracle_target_dir / files[k]) if padded[k] != SILENCE else "-"
                spk[k].append(f"{name} {path}")
        tables[LABELS_FILE] = labels
        tables.update({spk_scp(k + 1): rows for k, rows in enumerate(spk)})
        tables[ORACLE_TARGET_DIR_FILE] = [os.path.abspath(oracle_target_dir)]
    tables[SOUNDSCAPE_DIR_FILE] = [os.path.abspath(soundscape_dir)]
    for fname, rows in tables.items():
        with atomic_path(out_dir / fname, suffix=".tmp") as tmp:
            tmp.write_text("".join(r + "\n" for r in rows))
    logger.info("%s: %d soundscapes%s", out_dir, len(names), " with oracle targets" if oracle_target_dir else "")
    return len(names)
