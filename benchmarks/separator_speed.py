"""Speed of the ResUNetK separator (ResUNet30): this tree's code against a git revision.

    python benchmarks/separator_speed.py [--revision REV] [--widths 8 [32]] [--threads 2]
        [--rounds 3] [--steps 1] [--train_seconds 4] [--eval_seconds 10] [--batch 2]

Two timings per U-Net width (``base_channels``: 8 = the mini recipe, 32 = official):

* ``train``: one training step, float32, ``--batch`` mixtures of ``--train_seconds`` s (4 ch,
  32 kHz), train mode: forward, a mean-square loss on the waveforms, backward, AdamW step;
* ``eval``: one forward of a single ``--eval_seconds`` s mixture under ``torch.inference_mode``
  (eval mode).

Each code runs in its own child process (this script with ``--_child``): the current tree's
``espnet2_ext`` and that of ``--revision`` (default ``HEAD``; extracted with ``git archive`` into
a temp folder), alternating round by round so that load from other processes hits both alike.
A child builds the model (``torch.manual_seed(0)``), runs one warm-up step and ``--steps``
timed steps. Printed: medians over all timed steps of the wall time and of the process CPU
time (all threads; steadier than the wall time when other jobs share the machine), and the
ratios revision / current (> 1: the current tree is faster). Both codes get the same weights and inputs, so the
largest difference of their eval outputs (relative to the output peak) is printed too
(float32 rounding: ~1e-6). Weights are random: the amount of work does not depend on them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from child_timing import machine_line, run_json_child, timed_steps  # benchmarks/child_timing.py
from revisions import package_at  # benchmarks/revisions.py

REPO = Path(__file__).resolve().parents[1]
SR = 32000
CHANNELS = 4
LABEL_LEN = 54


# ------------------------------------------------------------------------------ child process
def child(args: argparse.Namespace) -> None:
    """Time one code (the espnet2_ext under ``--_child``) and print one JSON line."""
    sys.path.insert(0, args._child)
    import torch

    torch.set_num_threads(args.threads)
    from espnet2_ext.s5.separator import ResUNet30
    import espnet2_ext

    torch.manual_seed(0)
    model = ResUNet30(base_channels=args.width)
    gen = torch.Generator().manual_seed(1)
    label = torch.zeros(args.batch, LABEL_LEN)
    label[:, 0] = 1                     # slot 1: class 0, slot 2: class 2, slot 3: silent
    label[:, 18 + 2] = 1
    result: Dict[str, object] = {"package": str(Path(espnet2_ext.__file__).resolve().parent)}
    if args.what == "train":
        x = torch.randn(args.batch, CHANNELS, int(args.train_seconds * SR), generator=gen)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train()

        def step() -> float:
            opt.zero_grad()
            loss = model.separate(x, label).pow(2).mean()
            loss.backward()
            opt.step()
            return float(loss)
    else:
        x = torch.randn(1, CHANNELS, int(args.eval_seconds * SR), generator=gen)
        model.eval()

        def step() -> torch.Tensor:
            with torch.inference_mode():
                return model.separate(x, label[:1])
    first = step()                      # warm-up (also the value compared between codes)
    result["times"], result["cpu"] = timed_steps(step, args.steps)
    if args.what == "train":
        result["loss"] = first
    else:
        torch.save(first, args._out)
    print(json.dumps(result))


# ------------------------------------------------------------------------------ parent
def run_child(root: Path, what: str, width: int, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", str(root), "--_what", what,
           "--_width", str(width), "--_out", str(out), "--threads", str(args.threads), "--steps", str(args.steps),
           "--batch", str(args.batch), "--train_seconds", str(args.train_seconds),
           "--eval_seconds", str(args.eval_seconds)]
    result = run_json_child(cmd, f"{what} ({root})", args.threads, root)
    if Path(result["package"]) != (root / "espnet2_ext").resolve():
        from espnet2_ext.errors import S5InputError
        raise S5InputError(f"a child imported {result['package']}, not {root / 'espnet2_ext'}")
    return result


def parent(args: argparse.Namespace) -> None:
    import torch

    from espnet2_ext.errors import S5InputError

    if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e",
                       f"{args.revision}:espnet2_ext/s5/separator/resunetk.py"], capture_output=True).returncode:
        raise S5InputError(f"--revision: no espnet2_ext/s5/separator/resunetk.py at git revision {args.revision!r}")
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.revision],
                         capture_output=True, text=True).stdout.strip()
    print(f"ResUNetK speed: current tree vs {args.revision} ({sha}); {args.threads} threads, "
          f"{args.rounds} rounds x {args.steps} timed steps (+1 warm-up) per code, alternating")
    print(f"train: batch {args.batch} x {args.train_seconds:g} s, fwd+bwd+AdamW, fp32; "
          f"eval: 1 x {args.eval_seconds:g} s, inference_mode")
    print(machine_line(torch.__version__), flush=True)
    rows: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        codes = {"current": REPO, "revision": package_at(args.revision, tmp_path / "revision")}
        for width in args.widths:
            for what in ("train", "eval"):
                times: Dict[str, List[float]] = {name: [] for name in codes}
                cpu: Dict[str, List[float]] = {name: [] for name in codes}
                values: Dict[str, object] = {}
                for _ in range(args.rounds):
                    for name, root in codes.items():
                        out = tmp_path / f"{name}.pt"
                        result = run_child(root, what, width, args, out)
                        times[name] += result["times"]
                        cpu[name] += result["cpu"]
                        values[name] = result.get("loss") if what == "train" else torch.load(out)
                med = {name: statistics.median(t) for name, t in times.items()}
                med_cpu = {name: statistics.median(t) for name, t in cpu.items()}
                if what == "train":
                    diff = abs(values["current"] - values["revision"]) / max(abs(values["revision"]), 1e-30)
                    check = f"loss rel diff {diff:.1e}"
                else:
                    a, b = values["current"], values["revision"]
                    diff = float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))
                    check = f"max|diff|/peak {diff:.1e}"
                rows.append(f"{width:>5}  {what:<5}  {med['current']:9.2f}  {med['revision']:10.2f}  "
                            f"{med['revision'] / med['current']:5.2f}x  {med_cpu['current']:9.2f}  "
                            f"{med_cpu['revision']:9.2f}  {med_cpu['revision'] / med_cpu['current']:5.2f}x  {check}")
                if len(rows) == 1:
                    print("width  what   current s  revision s  ratio  cur cpu s  rev cpu s  ratio  check")
                print(rows[-1], flush=True)
    print(f"ratio = revision / current (> 1: current faster); s = wall seconds, cpu s = process CPU seconds "
          f"(all threads); medians of {args.rounds * args.steps} steps each")


def main() -> None:
    from espnet2_ext import validate
    from espnet2_ext.errors import cli_main

    @cli_main
    def run() -> None:
        p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--revision", default="HEAD", help="git revision to compare with (default HEAD)")
        p.add_argument("--widths", nargs="+", type=validate.positive_int, default=[8],
                       help="U-Net base_channels to time: 8 (mini recipe), 32 (official)")
        p.add_argument("--threads", type=validate.positive_int, default=2, help="torch CPU threads")
        p.add_argument("--rounds", type=validate.positive_int, default=3, help="alternating rounds per code")
        p.add_argument("--steps", type=validate.positive_int, default=1, help="timed steps per round")
        p.add_argument("--batch", type=validate.positive_int, default=2, help="training batch size")
        p.add_argument("--train_seconds", type=validate.positive_float, default=4.0)
        p.add_argument("--eval_seconds", type=validate.positive_float, default=10.0)
        p.add_argument("--_child", help=argparse.SUPPRESS)
        p.add_argument("--_what", choices=("train", "eval"), help=argparse.SUPPRESS)
        p.add_argument("--_width", type=validate.positive_int, help=argparse.SUPPRESS)
        p.add_argument("--_out", help=argparse.SUPPRESS)
        args = p.parse_args()
        if args._child:
            args.what, args.width = args._what, args._width
            child(args)
        else:
            parent(args)

    run()


if __name__ == "__main__":
    if "--_child" not in sys.argv:
        sys.path.insert(0, str(REPO))
        main()
    else:
        # the child imports its code's espnet2_ext only: parse the few flags by hand first
        argv = sys.argv[1:]
        root = argv[argv.index("--_child") + 1]
        sys.path.insert(0, root)
        main()
