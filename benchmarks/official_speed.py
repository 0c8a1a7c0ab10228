"""CPU speed of ours against the OFFICIAL baseline code, side by side, same weights and inputs.

    python benchmarks/official_speed.py --official DIR --official_python PY [--threads 2] [--rounds 3]
        [--what chain train] [--seconds 10] [--train_seconds 4] [--batch 2] [--profile] [--ours_bf16]

``--official``: a checkout of nttcslab/dcase2026_task4_baseline; ``--official_python``: the python
of its own environment (its packages: torchlibrosa, nnAudio, torchmetrics, ...). Two timings:

* ``chain``: the 4-channel S5 chain on one ``--seconds`` s mixture (4 ch, 32 kHz). Official: its
  ``S5`` (``src/models/s5/s5.py``) built from ``src/evaluation/eval_configs/m2dat_4c_resunetk.yaml``
  (M2dAtSpatial + ResUNet30), ``predict_label_separate`` under ``torch.no_grad`` as its
  ``evaluate.py`` calls it. Ours: ``S5Pipeline`` (``torch.inference_mode``) with the tagger and
  separator read from the same official checkpoints by ``load_official_tagger`` /
  ``load_official_separator``. Checked: same labels, waveforms within float rounding.
* ``train``: one ResUNet30 training step, float32, ``--batch`` x ``--train_seconds`` s. Official:
  the model, loss (``class_aware_pit.get_loss_func``), AdamW and gradient clipping of
  ``config/separation/resunetk_capisdr.yaml``, called as its Lightning ``training_step`` does
  (model forward, loss, backward, ``clip_grad_norm_``, optimizer step), without Lightning itself.
  Ours: ``ResUNet30.separate`` + ``ClassAwarePITLoss`` (capi_pit) + AdamW and ``grad_clip`` of
  ``conf/tuning/sep_resunetk.yaml``. Checked: the same loss value.

Weights: a full-size M2D weight file in the official AS-FT layout is fabricated (random); the
official code builds its S5 with ``torch.manual_seed(0)`` and saves the tagger and separator as
Lightning checkpoints, which both codes then load. Inputs: seeded arrays in .npy files read by both.
Each code runs in its own child process (this script with ``--_child``, under its own python),
``torch.set_num_threads(--threads)``, official and ours alternating round by round; a child runs
one warm-up step and one timed step. Printed per timing: medians of wall and process CPU seconds
and the ratio ours / official (targets: chain <= 0.5, train <= 0.7), and the median wall time of
the warm-up step (one-time costs: oneDNN primitive creation, optimizer state). ``--profile``: the top ops by
self CPU time of one more step of each code (last round only). ``--ours_bf16``: ours under CPU
bfloat16 autocast (not the float32 arithmetic of the targets; the checks then show bf16 rounding),
to see what AMX / avx512_bf16 hardware gives: the chain in the opt-in decoding precision
(``S5Pipeline(precision="bf16")``, what ``s5_inference --precision bf16`` runs), the training step
under ``torch.autocast("cpu", torch.bfloat16)``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from child_timing import cpu_flags, machine_line, run_json_child, timed_steps  # benchmarks/child_timing.py

REPO = Path(__file__).resolve().parents[1]
SR, CHANNELS, SLOTS, CLASSES = 32000, 4, 3, 18
EVAL_CONFIG = "src/evaluation/eval_configs/m2dat_4c_resunetk.yaml"
TRAIN_CONFIG = "config/separation/resunetk_capisdr.yaml"
OFFICIAL_FILES = ("src/models/s5/s5.py", "src/models/resunet2/resunet_mod.py",
                  "src/training/loss/class_aware_pit.py", "src/utils.py", EVAL_CONFIG, TRAIN_CONFIG)
OUR_TRAIN_CONFIG = REPO / "egs2/dcase26t4/s5/conf/tuning/sep_resunetk.yaml"
TRAIN_SLOTS = ([0, 2, None], [5, 5, 7])          # class indices per slot (None: silence), cycled over the batch
TARGETS = {"chain": 0.5, "train": 0.7}
TOP_OPS = 8


# ------------------------------------------------------------------------------ children
def official_child(req: dict) -> Tuple[Callable[[], object], Dict[str, object]]:
    """The step of the official code (imports only its ``src``); ``setup`` writes the checkpoints."""
    import numpy as np
    import torch
    import yaml

    sys.path.insert(0, req["official"])
    from src.utils import initialize_config

    root = Path(req["official"])
    if req["what"] in ("setup", "chain"):
        cfg = yaml.safe_load((root / EVAL_CONFIG).read_text())["model"]
        cfg["args"]["tagger_config"]["args"]["weight_file"] = req["weight_file"]
        setup = req["what"] == "setup"
        cfg["args"]["tagger_ckpt"] = None if setup else req["tagger_ckpt"]
        cfg["args"]["separator_ckpt"] = None if setup else req["separator_ckpt"]
        torch.manual_seed(0)
        s5 = initialize_config(cfg)
        if setup:
            for part, path in (("tagger", req["tagger_ckpt"]), ("separator", req["separator_ckpt"])):
                sd = getattr(s5, part).state_dict()
                torch.save({"state_dict": {f"model.{k}": v for k, v in sd.items()}}, path)
            return (lambda: None), {}
        mixture = torch.from_numpy(np.load(req["mixture"]))

        def chain() -> Tuple[List[List[str]], object]:
            with torch.no_grad():                     # as src/evaluation/evaluate.py
                out = s5.predict_label_separate(mixture)
            return out["label"], out["waveform"].numpy()
        return chain, {}
    conf = yaml.safe_load((root / TRAIN_CONFIG).read_text())
    lm = conf["lightning_module"]["args"]
    model = initialize_config(lm["model"])
    sd = torch.load(req["separator_ckpt"], map_location="cpu", weights_only=False)["state_dict"]
    model.load_state_dict({k[len("model."):]: v for k, v in sd.items()})
    loss_func = initialize_config(lm["loss"])
    lm["optimizer"]["args"]["params"] = model.parameters()
    opt = initialize_config(lm["optimizer"])
    clip = conf["train"]["trainer"]["args"]["gradient_clip_val"]    # Lightning: clip_grad_norm_
    x, dry, lv = (torch.from_numpy(np.load(req[k])) for k in ("train_mixture", "train_dry", "train_label"))

    def train() -> float:
        model.train()                                 # set_train_mode
        opt.zero_grad()
        out = model({"mixture": x, "label_vector": lv})
        loss = loss_func(out, {"waveform": dry, "label_vector": lv.view(lv.shape[0], SLOTS, -1)})["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return float(loss)
    return train, {"optimizer": type(opt).__name__, "clip": clip}


def ours_child(req: dict) -> Tuple[Callable[[], object], Dict[str, object]]:
    """The step of our code (this repository's espnet2_ext)."""
    import numpy as np
    import torch
    import yaml

    sys.path.insert(0, str(REPO))
    from espnet2_ext.s5.separator.resunetk import load_official_separator

    separator = load_official_separator(req["separator_ckpt"])
    if req["what"] == "chain":
        from espnet2_ext.s5.pipeline import S5Pipeline
        from espnet2_ext.s5.tagger import load_official_tagger

        pipe = S5Pipeline(load_official_tagger(req["tagger_ckpt"], req["weight_file"], "4c"), separator,
                          precision="bf16" if req["bf16"] else "fp32")    # the opt-in decoding precision
        mixture = torch.from_numpy(np.load(req["mixture"]))

        def chain() -> Tuple[List[List[str]], object]:
            out = pipe(mixture)                       # inference_mode inside
            return out.labels, out.waveform.float().numpy()
        return chain, {}
    from espnet2_ext.s5.loss import ClassAwarePITLoss

    conf = yaml.safe_load(OUR_TRAIN_CONFIG.read_text())
    opt = torch.optim.AdamW(separator.parameters(), **conf["optim_conf"])
    loss_func, clip = ClassAwarePITLoss(), conf["grad_clip"]
    x, dry, lv = (torch.from_numpy(np.load(req[k])) for k in ("train_mixture", "train_dry", "train_label"))
    separator.train()

    def train() -> float:
        opt.zero_grad()
        loss = loss_func(separator.separate(x, lv), dry, lv)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(separator.parameters(), clip, norm_type=conf["grad_clip_type"])
        opt.step()
        return float(loss)
    return train, {"optimizer": type(opt).__name__, "clip": clip}


def top_ops(step: Callable[[], object]) -> dict:
    """Self CPU seconds of the top ops of one ``step`` (torch.profiler), and their total."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return {"total_s": sum(e.self_cpu_time_total for e in events) / 1e6,
            "conv_s": sum(e.self_cpu_time_total for e in events if "conv" in e.key) / 1e6,
            "ops": [[e.key, e.self_cpu_time_total / 1e6, e.count] for e in events[:TOP_OPS]]}


def child(req: dict) -> None:
    """Time one code on one ``what`` and print one JSON line (values to compare go to files)."""
    import numpy as np
    import torch

    torch.set_num_threads(req["threads"])
    step, info = (official_child if req["code"] == "official" else ours_child)(req)
    if req["code"] == "ours" and req["bf16"] and req["what"] == "train":
        fp32_step = step

        def step() -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fp32_step()
    result = dict(info, torch=torch.__version__)
    if req["what"] != "setup":
        t0 = time.perf_counter()
        first = step()                                # warm-up, also the value compared
        result["first"] = time.perf_counter() - t0    # one-time set-up costs show here
        result["times"], result["cpu"] = timed_steps(step, 1)
        if req["what"] == "train":
            result["loss"] = first
        else:
            result["labels"] = first[0]
            np.save(req["out"], first[1])
        if req["profile"]:
            result["profile"] = top_ops(step)
    print(json.dumps(result))


# ------------------------------------------------------------------------------ parent
def label_vector(slots) -> "object":
    """[B, 54] float32 query: one-hot per slot, silence (None) all zeros (official ``concat``/``zeros``)."""
    import numpy as np

    lv = np.zeros((len(slots), SLOTS, CLASSES), np.float32)
    for b, row in enumerate(slots):
        for s, c in enumerate(row):
            if c is not None:
                lv[b, s, c] = 1
    return lv.reshape(len(slots), -1)


def write_inputs(tmp: Path, args: argparse.Namespace) -> Dict[str, str]:
    """The fabricated M2D weights and the seeded inputs, as files both children read."""
    import numpy as np

    from espnet2_ext.s5.tagger import fabricate_m2d_weight_file

    rng = np.random.default_rng(0)
    files = {"weight_file": str(fabricate_m2d_weight_file(tmp)), "tagger_ckpt": str(tmp / "m2dat_4c.ckpt"),
             "separator_ckpt": str(tmp / "resunetk.ckpt")}
    slots = [TRAIN_SLOTS[b % len(TRAIN_SLOTS)] for b in range(args.batch)]
    lv = label_vector(slots)
    dry = 0.05 * rng.standard_normal((args.batch, SLOTS, 1, int(args.train_seconds * SR)), dtype=np.float32)
    dry *= lv.reshape(args.batch, SLOTS, CLASSES).any(-1)[:, :, None, None]      # silent slots: no source
    arrays = {"mixture": 0.1 * rng.standard_normal((1, CHANNELS, int(args.seconds * SR)), dtype=np.float32),
              "train_mixture": 0.1 * rng.standard_normal((args.batch, CHANNELS, int(args.train_seconds * SR)),
                                                         dtype=np.float32),
              "train_dry": dry, "train_label": lv}
    for name, a in arrays.items():
        np.save(tmp / f"{name}.npy", a)
        files[name] = str(tmp / f"{name}.npy")
    return files


def print_profile(code: str, what: str, prof: dict) -> None:
    print(f"profile {code} {what}: one step, self CPU {prof['total_s']:.2f} s in all; ops with 'conv' in "
          f"their name {100 * prof['conv_s'] / prof['total_s']:.0f} %")
    for name, sec, count in prof["ops"]:
        print(f"  {100 * sec / prof['total_s']:5.1f} %  {sec:8.3f} s  {count:6d} calls  {name}")


def parent(args: argparse.Namespace) -> None:
    import numpy as np

    from espnet2_ext.errors import S5InputError

    official = Path(args.official).resolve()
    missing = [f for f in OFFICIAL_FILES if not (official / f).is_file()]
    if missing:
        raise S5InputError(f"--official: {args.official} is not the official DCASE2026 Task 4 baseline "
                           f"repository (no {missing[0]}); give a checkout of nttcslab/dcase2026_task4_baseline")
    py = Path(args.official_python)
    if not py.is_file():
        raise S5InputError(f"--official_python: {py} is not a python executable (give its venv's bin/python)")
    pythons = {"official": str(py), "ours": sys.executable}
    print(f"S5 CPU speed, ours vs the official code ({official}); {args.threads} threads, {args.rounds} rounds "
          f"x 1 timed step (+1 warm-up) per code, alternating official/ours")
    print(f"chain: 1 x {args.seconds:g} s, 4 ch, M2dAtSpatial + ResUNet30; train: ResUNet30, batch {args.batch} "
          f"x {args.train_seconds:g} s, fwd + CAPI loss + bwd + clip + AdamW(amsgrad), "
          + ("ours under bf16 autocast (opt-in), official fp32" if args.ours_bf16 else "fp32"))
    print(f"load average at the start {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        files = write_inputs(tmp, args)

        def run(code: str, what: str, profile: bool = False) -> dict:
            req = dict(files, code=code, what=what, threads=args.threads, official=str(official),
                       profile=profile, bf16=args.ours_bf16, out=str(tmp / f"{code}.npy"))
            return run_json_child([pythons[code], str(Path(__file__).resolve()), "--_child"],
                                  f"{code} {what}", args.threads, official if code == "official" else REPO,
                                  stdin=json.dumps(req))

        versions = {"official": run("official", "setup")["torch"]}
        profiles: List[Tuple[str, str, dict]] = []
        for what in args.what:
            times: Dict[str, List[float]] = {"official": [], "ours": []}
            cpu: Dict[str, List[float]] = {"official": [], "ours": []}
            first: Dict[str, List[float]] = {"official": [], "ours": []}
            res: Dict[str, dict] = {}
            for r in range(args.rounds):
                for code in ("official", "ours"):
                    res[code] = run(code, what, profile=args.profile and r == args.rounds - 1)
                    times[code] += res[code]["times"]
                    cpu[code] += res[code]["cpu"]
                    first[code].append(res[code]["first"])
                    versions[code] = res[code]["torch"]
                    if "profile" in res[code]:
                        profiles.append((code, what, res[code]["profile"]))
            if what == "chain":
                off, ours = np.load(tmp / "official.npy"), np.load(tmp / "ours.npy")
                same = res["official"]["labels"] == res["ours"]["labels"]
                diff = float(np.abs(ours.reshape(off.shape) - off).max() / max(np.abs(off).max(), 1e-30))
                check = (f"{'same labels' if same else 'DIFFERENT labels'} {res['ours']['labels']}; "
                         f"max|diff|/peak {diff:.1e}")
            else:
                lo, lu = res["official"]["loss"], res["ours"]["loss"]
                check = f"loss official {lo:.6f} ours {lu:.6f}, rel diff {abs(lu - lo) / max(abs(lo), 1e-30):.1e}"
            med = {c: statistics.median(t) for c, t in times.items()}
            med_cpu = {c: statistics.median(t) for c, t in cpu.items()}
            ratio, ratio_cpu = med["ours"] / med["official"], med_cpu["ours"] / med_cpu["official"]
            if what == args.what[0]:
                print("what   official s  ours s  ratio  off cpu s  ours cpu s  ratio  target  met (wall/cpu)")
            print(f"{what:<5}  {med['official']:10.2f}  {med['ours']:6.2f}  {ratio:5.2f}x  {med_cpu['official']:9.2f}"
                  f"  {med_cpu['ours']:10.2f}  {ratio_cpu:5.2f}x  <={TARGETS[what]:.1f}x  "
                  f"{'yes' if ratio <= TARGETS[what] else 'no'}/{'yes' if ratio_cpu <= TARGETS[what] else 'no'}")
            print(f"{what:<5}  check: {check}")
            print(f"{what:<5}  first (warm-up) step, wall s: official {statistics.median(first['official']):.2f}, "
                  f"ours {statistics.median(first['ours']):.2f}", flush=True)
    print(f"ratio = ours / official (< 1: ours faster); s = wall seconds, cpu s = process CPU seconds (all threads); "
          f"medians of {args.rounds} steps each")
    flags = cpu_flags("avx512f", "avx512_bf16", "amx_bf16")
    print(machine_line(f"{versions['official']} (official venv) / {versions['ours']} (ours)") + " at the end; "
          + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()))
    for code, what, prof in profiles:
        print_profile(code, what, prof)


def main() -> None:
    from espnet2_ext import validate
    from espnet2_ext.errors import cli_main

    @cli_main
    def run() -> None:
        p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--official", required=True, help="checkout of nttcslab/dcase2026_task4_baseline")
        p.add_argument("--official_python", required=True, help="python of the official code's environment")
        p.add_argument("--threads", type=validate.positive_int, default=2, help="torch CPU threads per child")
        p.add_argument("--rounds", type=validate.positive_int, default=3, help="alternating rounds per code")
        p.add_argument("--what", nargs="+", choices=("chain", "train"), default=["chain", "train"])
        p.add_argument("--seconds", type=validate.positive_float, default=10.0, help="chain mixture length")
        p.add_argument("--train_seconds", type=validate.positive_float, default=4.0)
        p.add_argument("--batch", type=validate.positive_int, default=2, help="training batch size")
        p.add_argument("--profile", action="store_true", help="top ops by self CPU time (last round)")
        p.add_argument("--ours_bf16", action="store_true", help="ours under CPU bf16 autocast (opt-in mode)")
        parent(p.parse_args())

    run()


if __name__ == "__main__":
    if sys.argv[1:] == ["--_child"]:          # under either python: no espnet2_ext import before the request
        child(json.loads(sys.stdin.read()))
    else:
        sys.path.insert(0, str(REPO))
        main()
