"""Fixed validation / dev-test / eval sets of a corpus, in the official layout.

From the corpus's ``valid`` split (sound_event/valid, noise/valid, interference/valid,
room_ir/valid) this writes
  dev_root/metadata/valid.json, dev_root/metadata/valid/valid_XXXX.json   (SpAudSyn metadata)
  dev_root/synthesized/test/soundscape/test_XXXX.wav                       (4-ch PCM16)
  dev_root/synthesized/test/oracle_target/test_XXXX_<slot>_<Label>.wav    (mono PCM16)
  eval_root/synthesized/eval/soundscape/eval_XXXX.wav                      (4-ch PCM16)
Scene i of a set is drawn from ``SeedSequence([seed, set_id, i])`` (valid 1, test 2, eval 3),
so the output is byte-identical for a seed. Slot order = targets sorted by onset.

:func:`render` re-synthesizes a metadata list (``valid.json``) the same way, one job's share.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List

import numpy as np
from tqdm import tqdm

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_json, write_wav
from espnet2_ext.jobs import check_job, job_share
from espnet2_ext.s5.official import SAMPLE_RATE, source_filename
from espnet2_ext.synth.sampler import SceneSampler, scene_rng
from espnet2_ext.synth.render import SceneRenderer
from espnet2_ext.synth.scene import Scene, make_scene_config, read_metadata_list

logger = logging.getLogger(__name__)
SET_IDS = {"valid": 1, "test": 2, "eval": 3}
FIXED_SET_GENERATOR = {"nevent_range": [1, 3], "ninterference_range": [0, 2], "snr_range": [5, 20],
                       "inteference_snr_range": [0, 15], "dupse_rate": 0.5, "max_n_dupse": 2,
                       "dupse_min_angle": 60.0, "dupse_exclusion_folder_depth": 1}


def zero_padded_names(prefix: str, n: int) -> List[str]:
    """['test_0000', ...]: at least 4 digits, more when n > 10000 (official names are zero-padded)."""
    width = max(4, len(str(max(n - 1, 0))))
    return [f"{prefix}_{i:0{width}d}" for i in range(n)]


def write_mixture(out_dir: Path, name: str, scene: Scene, renderer: SceneRenderer,
                  with_targets: bool, subtype: str = "PCM_16", dry_channel: int = 0) -> None:
    """Render ``scene``; write oracle targets (slot order = fg list order) first, the soundscape last."""
    out = renderer.render(scene, return_dry=with_targets, dry_channel=dry_channel)
    if with_targets:
        for slot, (ev, dry) in enumerate(zip(scene.fg_events, out.dry)):
            write_wav(out_dir / "oracle_target" / source_filename(name, slot, ev.label),
                      _checked(dry[0], name), scene.sr, subtype=subtype)
    write_wav(out_dir / "soundscape" / f"{name}.wav", _checked(out.mixture, name), scene.sr,
              subtype=subtype)


def _checked(wav: np.ndarray, name: str) -> np.ndarray:
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak >= 1.0:
        logger.warning("%s: peak %.3f >= 1 is clipped in the PCM file", name, peak)
        wav = np.clip(wav, -1.0, 1.0)
    return wav


def make_fixed_sets(dev_root: Path, eval_root: Path, n_valid: int, n_test: int, n_eval: int,
                    seed: int, duration: float = 10.0, sr: int = SAMPLE_RATE) -> None:
    """Write the valid metadata, the dev test set and the eval soundscapes (see module docstring)."""
    dev_root, eval_root = Path(dev_root), Path(eval_root)
    corpus_root = dev_root.parent
    stored = f"data/{dev_root.name}"
    interference = stored + "/interference/valid" if (dev_root / "interference" / "valid").is_dir() else None
    background = stored + "/noise/valid" if (dev_root / "noise" / "valid").is_dir() else None
    config = make_scene_config(duration=duration, sr=sr, max_event_overlap=3, max_event_dur=duration,
                               ref_db=-55, foreground_dir=stored + "/sound_event/valid",
                               background_dir=background, interference_dir=interference,
                               room_dir=stored + "/room_ir/valid")
    sampler = SceneSampler(config, FIXED_SET_GENERATOR, corpus_root)
    renderer = SceneRenderer(corpus_root, sampler.sources, sampler.rirs)

    def scenes(set_name: str, n: int):
        for i, name in enumerate(zero_padded_names(set_name, n)):
            scene = sampler.sample(scene_rng(seed, SET_IDS[set_name], i))
            scene.fg_events.sort(key=lambda e: e.event_time)
            scene.int_events.sort(key=lambda e: e.event_time)
            yield name, scene

    entries = []
    for name, scene in tqdm(scenes("valid", n_valid), total=n_valid, desc="valid metadata"):
        write_json(dev_root / "metadata" / "valid" / f"{name}.json", scene.to_metadata(), indent=4)
        entries.append({"metadata_path": f"valid/{name}.json"})
    write_json(dev_root / "metadata" / "valid.json", entries, indent=4)
    test_dir = dev_root / "synthesized" / "test"
    for name, scene in tqdm(scenes("test", n_test), total=n_test, desc="dev test set"):
        write_mixture(test_dir, name, scene, renderer, with_targets=True)
    eval_dir = eval_root / "synthesized" / "eval"
    for name, scene in tqdm(scenes("eval", n_eval), total=n_eval, desc="eval set"):
        write_mixture(eval_dir, name, scene, renderer, with_targets=False)


def render(metadata_list: Path, corpus_root: Path, out_dir: Path, job: int, nj: int,
           subtype: str = "PCM_16", dry_channel: int = 0) -> int:
    """Render this job's share of the metadata list; returns the number of mixtures written."""
    check_job(job, nj)
    files = read_metadata_list(metadata_list)
    renderer = SceneRenderer(corpus_root)
    done = 0
    mine = job_share(range(len(files)), job, nj)
    for i in tqdm(mine, desc=f"render job {job}/{nj}", mininterval=10):
        name = f"soundscape_{i:04d}"
        if (out_dir / "soundscape" / f"{name}.wav").is_file():
            continue   # the soundscape is written last: its presence means the item is complete
        scene = Scene.from_metadata(files[i])
        try:
            write_mixture(out_dir, name, scene, renderer, with_targets=True, subtype=subtype,
                          dry_channel=dry_channel)
        except S5InputError as e:   # a missing/bad source file: name the scene that uses it
            raise S5InputError(f"{e} (while rendering {files[i]})") from e
        done += 1
    logger.info("job %d/%d: %d mixtures written, %d already present", job, nj, done, len(mine) - done)
    return done
