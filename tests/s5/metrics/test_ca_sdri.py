"""2025 CA-SDRi: one source per class, direct label matching, FP/FN = 0."""
import torch

from espnet2_ext.s5.metrics import ca_sdri, capi_sdri, snr


def _wavs(n, seed, T=2000):
    return torch.randn(n, T, generator=torch.Generator().manual_seed(seed))


def test_equals_capi_sdri_without_duplicates(metric_cases):
    """With at most one source per class on each side both metrics are the same number."""
    cases, _ = metric_cases
    checked = 0
    for c in cases:
        est = [x for x in c["est_lb"] if x != "silence"]
        ref = [x for x in c["ref_lb"] if x != "silence"]
        if (est or ref) and len(set(est)) == len(est) and len(set(ref)) == len(ref):
            args = (c["est_lb"], c["est_wf"], c["ref_lb"], c["ref_wf"], c["mixture"])
            assert abs(ca_sdri(*args) - capi_sdri(*args)) < 1e-4
            checked += 1
    assert checked > 10


def test_fp_fn_count_zero_and_last_duplicate_wins():
    ref, mix = _wavs(2, 0), _wavs(1, 1)[0]
    est = torch.stack([ref[0], _wavs(1, 2)[0], ref[1]])
    # ref A, B; est A, C, A(=ref B waveform): TP {A} (last est A), FP {C}, FN {B}
    v = ca_sdri(["A", "C", "A"], est, ["A", "B", "silence"], torch.cat([ref, torch.zeros(1, 2000)]), mix)
    improvement = (snr(est[2], ref[0]) - snr(mix, ref[0])).item()
    assert abs(v - improvement / 3) < 1e-5
    assert ca_sdri(["silence"] * 3, est, ["silence"] * 3, est, mix) is None
