"""Speed of our CAPI-SDRi against a naive permutation-stacking implementation.

    python benchmarks/metric_speed.py [--cases 200] [--seconds 10] [--threads 1]

Both implementations score the same random cases (1–3 references and estimates
per mixture from a small class pool, so same-class duplicates are frequent); the
script checks that they agree (≤ 1e-4 dB) and prints cases per second.
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import List, Optional

import numpy as np
import torch

from espnet2_ext import validate
from espnet2_ext.errors import cli_main
from espnet2_ext.s5.labels import CLASSES, SILENCE
from espnet2_ext.s5.official import SAMPLE_RATE
from espnet2_ext.s5.metrics import capi_sdri, snr


def random_cases(seed: int, n: int, n_samples: int) -> List[dict]:
    """Cases with 0–3 references/estimates over 2 classes (duplicates, misses, false alarms)."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        pool = [CLASSES[i] for i in rng.choice(len(CLASSES), 2, replace=False)]
        ref_lb = [pool[i] for i in rng.integers(0, 2, int(rng.integers(0, 4)))]
        est_lb = [pool[i] for i in rng.integers(0, 2, int(rng.integers(0, 4)))]
        ref = rng.standard_normal((3, n_samples)).astype(np.float32)
        ref[len(ref_lb):] = 0
        est = ref[rng.permutation(3)] + 0.3 * rng.standard_normal((3, n_samples)).astype(np.float32)
        cases.append({
            "est_lb": est_lb + [SILENCE] * (3 - len(est_lb)), "est_wf": torch.from_numpy(est),
            "ref_lb": ref_lb + [SILENCE] * (3 - len(ref_lb)), "ref_wf": torch.from_numpy(ref),
            "mixture": torch.from_numpy(ref.sum(0) + rng.standard_normal(n_samples).astype(np.float32)),
        })
    return cases


# ------------------------------------------------------------------------------------------
# NAIVE REFERENCE (for comparison only): the official algorithm as written, which stacks
# the waveforms of every (reference combination x estimate permutation) of a class.
# ------------------------------------------------------------------------------------------
def naive_capi_sdri(est_lb, est_wf, ref_lb, ref_wf, mixture) -> Optional[float]:
    labels = sorted((set(est_lb) | set(ref_lb)) - {SILENCE})
    if not labels:
        return None
    values = []
    for lab in labels:
        est = est_wf[[i for i, x in enumerate(est_lb) if x == lab]]
        ref = ref_wf[[i for i, x in enumerate(ref_lb) if x == lab]]
        if len(est) == 0 or len(ref) == 0:
            values.append(torch.zeros(max(len(est), len(ref))))
            continue
        tp = min(len(est), len(ref))
        perms = [(list(r), list(e)) for r in itertools.combinations(range(len(ref)), tp)
                 for e in itertools.permutations(range(len(est)), tp)]
        est_stack = torch.stack([est[e] for _, e in perms])
        ref_stack = torch.stack([ref[r] for r, _ in perms])
        sdr = snr(est_stack, ref_stack)
        sdr_mix = snr(mixture.expand_as(ref_stack), ref_stack)
        best = int(sdr.mean(dim=1).argmax())
        values += [sdr[best] - sdr_mix[best], torch.zeros(abs(len(est) - len(ref)))]
    return torch.cat(values).mean().item()


def cases_per_second(fn, cases) -> float:
    start = time.perf_counter()
    for c in cases:
        fn(c["est_lb"], c["est_wf"], c["ref_lb"], c["ref_wf"], c["mixture"])
    return len(cases) / (time.perf_counter() - start)


@cli_main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=validate.positive_int, default=200)
    p.add_argument("--seconds", type=validate.positive_float, default=10.0, help="mixture length (32 kHz)")
    p.add_argument("--threads", type=validate.positive_int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = random_cases(0, args.cases, int(args.seconds * SAMPLE_RATE))

    ours = [capi_sdri(c["est_lb"], c["est_wf"], c["ref_lb"], c["ref_wf"], c["mixture"]) for c in cases]
    naive = [naive_capi_sdri(c["est_lb"], c["est_wf"], c["ref_lb"], c["ref_wf"], c["mixture"]) for c in cases]
    assert [v is None for v in ours] == [v is None for v in naive]
    diff = max((abs(a - b) for a, b in zip(ours, naive) if a is not None), default=0.0)
    assert diff <= 1e-4, diff

    fast, slow = cases_per_second(capi_sdri, cases), cases_per_second(naive_capi_sdri, cases)
    print(f"CAPI-SDRi on {args.cases} cases of {args.seconds:g} s, {args.threads} thread(s), "
          f"max |ours - naive| = {diff:.1e} dB")
    print(f"ours (pairwise SNR matrix):      {fast:8.1f} cases/s")
    print(f"naive (permutation stacking):    {slow:8.1f} cases/s")
    print(f"speed-up: {fast / slow:.1f}x")


if __name__ == "__main__":
    main()
