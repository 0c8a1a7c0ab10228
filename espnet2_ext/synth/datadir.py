"""Kaldi-style data dirs of fixed soundscape sets (stage 3), as read by ``DataDirDataset``.

A data dir holds ``wav.scp`` (``<name> <soundscape path>``), ``utt2spk`` and ``spk2utt``
(each soundscape is its own "speaker", as in ESPnet's enhancement recipes; sorted unique
ids, so Kaldi's tools and ``utils/validate_data_dir.sh`` accept the folder), and with oracle targets
``labels`` (``<name> <Label> <Label> silence``), ``spk1.scp`` .. ``spkN.scp`` (``-`` for a
silent slot), ``oracle_target_dir``; always ``soundscape_dir``. File names:
:mod:`espnet2_ext.s5.official`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path
from espnet2_ext.s5.estimates import index_sources, list_soundscapes
from espnet2_ext.s5.labels import pad_labels
from espnet2_ext.s5.official import (LABELS_FILE, N_SLOTS, ORACLE_TARGET_DIR_FILE, SILENCE, SOUNDSCAPE_DIR_FILE,
                                     SPK2UTT, UTT2SPK, WAV_SCP, spk_scp)

logger = logging.getLogger(__name__)


def write_datadir(soundscape_dir: Path, out_dir: Path, oracle_target_dir: Optional[Path] = None,
                  n_sources: int = N_SLOTS) -> int:
    """Write a Kaldi-style data dir for the soundscapes (see module docstring); returns their count.

    The soundscapes and oracle targets get the checks stage 8 applies when scoring (every
    oracle target belongs to a soundscape of the set and has a known label, at most
    ``n_sources`` per soundscape, lower-case ``.wav``), so a set that could not be scored
    is refused here, at stage 3."""
    names = list_soundscapes(soundscape_dir)
    ids = [f"{n} {n}" for n in names]           # utt2spk / spk2utt: each soundscape its own speaker
    tables: Dict[str, List[str]] = {
        WAV_SCP: [f"{n} {os.path.abspath(soundscape_dir / (n + '.wav'))}" for n in names],
        UTT2SPK: ids, SPK2UTT: ids}
    if oracle_target_dir is not None:
        index = index_sources(oracle_target_dir, names, what="oracle target")
        labels, spk = [], [[] for _ in range(n_sources)]
        for name in names:
            files = index[name]
            if len(files) > n_sources:
                raise S5InputError(f"oracle targets of {name} in {oracle_target_dir}: {len(files)} files, at "
                                   f"most {n_sources} allowed ({', '.join(f.filename for f in files)})")
            padded = pad_labels([f.label for f in files], n_sources)
            labels.append(f"{name} {' '.join(padded)}")
            for k in range(n_sources):
                path = os.path.abspath(files[k].path) if padded[k] != SILENCE else "-"
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
