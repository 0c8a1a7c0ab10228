"""Unrendered training items: what the device renderer needs instead of rendered audio.

With ``train_data_conf.render_on_device: true`` the data-loading processes only sample
scenes and decode clips; the convolutions run on the training device
(:mod:`espnet2_ext.synth.torch_render`). An unrendered item holds, for the scene's
E = n_fg + n_int events (foreground first, then interference, in scene order):

  render_clips       float32 [E, N]   mono peak-normalised clips at the scene rate, zero-padded
                                      to the longest (N); exactly what the CPU renderer convolves
  render_lengths     int64   [E]      clip lengths n (0 = no event: a padding row)
  render_onsets      int64   [E]      int(event_time * sr), as the CPU renderer places them
  render_snr         float64 [E]      event SNRs (dB re ref_db)
  render_positions   float64 [E, 3]   event positions (matched against the room's SOFA file)
  render_slots       int64   [E]      output slot of a foreground event's dry target, -1 for
                                      interference (slot k holds fg event order[k])
  render_room        int64   []       index of the room in ``list_room_files`` of the config
  render_background  float32 [C, T]   the scaled background sum (zeros without background)

The task's collate zero-pads the event and clip axes to the longest in the batch
(:func:`pad_stack`); a zero-length row renders nothing, as a silent event would.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch

from espnet2_ext.synth.scene import Scene

#: the keys of an unrendered item, in this order

from espnet2_ext.synth.render import SceneRenderer

#: the keys of an unrendered item, in this order
UNRENDERED_KEYS = ("render_clips", "render_lengths", "render_onsets", "render_snr", "render_positions",
                   "render_slots", "render_room", "render_background")
#: the tensors that a rendered training item has instead (the wrapper's inputs)
RENDERED_KEYS = ("mixture", "dry_sources")


def unrendered_arrays(renderer: SceneRenderer, scene: Scene, order: Sequence[int],
                      room_index: int) -> Dict[str, np.ndarray]:
    """The ``render_*`` arrays of ``scene`` (see the module docstring).

    ``renderer`` supplies the file access of the CPU renderer (decoded clips, the
    background); ``order[k]`` is the fg event whose dry target goes to slot k."""
    events = list(scene.fg_events) + list(scene.int_events)
    clips = [renderer.clip(scene, ev) for ev in events]
    width = max((len(x) for x in clips), default=0)
    padded = np.zeros((len(events), width), dtype=np.float32)
    for row, x in zip(padded, clips):
        row[:len(x)] = x
    slot_of = {fg: slot for slot, fg in enumerate(order)}
    room = renderer.rirs.room(renderer.room_path(scene))
    background = np.zeros((room.nchan, scene.n_samples), dtype=np.float32)
    renderer.add_background(scene, background)        # as the CPU renderer adds it (float32)
    return {
        "render_clips": padded,
        "render_lengths": np.array([len(x) for x in clips], dtype=np.int64),
        "render_onsets": np.array([int(ev.event_time * scene.sr) for ev in events], dtype=np.int64),
        "render_snr": np.array([ev.snr for ev in events], dtype=np.float64),
        "render_positions": np.array([np.asarray(ev.event_position, dtype=np.float64).reshape(3)
                                      for ev in events], dtype=np.float64).reshape(len(events), 3),
        "render_slots": np.array([slot_of.get(i, -1) if i < len(scene.fg_events) else -1
                                  for i in range(len(events))], dtype=np.int64),
        "render_room": np.array(room_index, dtype=np.int64),
        "render_background": background,
    }


def pad_stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack tensors of equal rank, zero-padding every axis to the largest size: [B, *max]."""
    shape = [max(sizes) for sizes in zip(*(t.shape for t in tensors))]
    out = tensors[0].new_zeros([len(tensors)] + shape)
    for row, t in zip(out, tensors):
        row[tuple(slice(0, n) for n in t.shape)] = t
    return out
