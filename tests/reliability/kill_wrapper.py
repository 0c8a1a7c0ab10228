"""Run a CLI module and SIGKILL it at a chosen write (deterministic interruptions).

    python kill_wrapper.py WHEN N MODULE [ARGS...]

WHEN:
  checkpoint  half-way through writing the N-th training checkpoint (checkpoint.pth)
  epoch_file  just before the N-th ``<epoch>epoch.pth`` is written
  wav         half-way through writing the N-th WAV file (soundfile.write)

The half-written bytes go where the real code writes: a temporary file when the
write is atomic, the final file when it is not, so the tests see what a real
kill would leave behind.
"""
from __future__ import annotations

import io
import os
import runpy
import signal
import sys

import soundfile
import torch


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def write_half(data: bytes, target) -> None:
    """Write the first half of ``data`` to ``target`` (file object or path), then die."""
    if hasattr(target, "write"):
        target.write(data[: len(data) // 2])
        target.flush()
    else:
        with open(target, "wb") as f:
            f.write(data[: len(data) // 2])
    die()


def main() -> None:
    when, n, module, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    calls = {"n": 0}
    real_save, real_sf_write = torch.save, soundfile.write

    def count() -> bool:
        calls["n"] += 1
        return calls["n"] == n

    def save(obj, f, *a, **k):
        name = str(getattr(f, "name", f))
        if when == "checkpoint" and isinstance(obj, dict) and "reporter" in obj and count():
            buf = io.BytesIO()
            real_save(obj, buf)
            write_half(buf.getvalue(), f)
        if when == "epoch_file" and "epoch.pth" in name and count():
            die()
        return real_save(obj, f, *a, **k)

    def sf_write(file, data, samplerate, *a, **k):
        if when == "wav" and count():
            buf = io.BytesIO()
            real_sf_write(buf, data, samplerate, *a, **k)
            write_half(buf.getvalue(), file)
        return real_sf_write(file, data, samplerate, *a, **k)

    torch.save, soundfile.write = save, sf_write
    sys.argv = [module] + args
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
