"""CAPI-SDRi: official parity on the seeded cases and the metric's defining rules."""
import torch

from espnet2_ext.s5.metrics import capi_sdri, capi_sdri_batch, capi_sdri_details, mean_ignoring_none, snr


def test_matches_official_per_case(metric_cases):
    cases, expected = metric_cases
    assert [c["est_lb"] for c in cases] == expected["cases"]["est_lb"]      # same generator output
    values = [capi_sdri(c["est_lb"], c["est_wf"], c["ref_lb"], c["ref_wf"], c["mixture"]) for c in cases]
    assert len(values) == len(expected["capi_sdri"]) == 100
    for i, (ours, official) in enumerate(zip(values, expected["capi_sdri"])):
        assert (ours is None) == (official is None), i
        if official is not None:
            assert abs(ours - official) <= 1e-4, (i, cases[i]["kind"], ours, official)
    assert abs(mean_ignoring_none(values) - expected["capi_sdri_mean"]) <= 1e-4


def _wavs(n, T=2000, seed=0):
    return torch.randn(n, T, generator=torch.Generator().manual_seed(seed))


def test_duplicates_are_matched_by_best_sdr_and_extras_score_zero():
    ref = _wavs(2)
    mix = ref.sum(0) + 0.5 * _wavs(1, seed=1)[0]
    est = torch.stack([ref[1] + 0.01 * ref[0], ref[0] + 0.01 * ref[1], _wavs(1, seed=2)[0]])
    d = capi_sdri_details(["Speech", "Speech", "Speech"], est, ["Speech", "Speech", "silence"],
                          torch.cat([ref, torch.zeros(1, 2000)]), mix)
    assert d.pairs == [(0, 1), (1, 0)]                                      # swapped back
    expected = snr(est[[1, 0]], ref) - snr(mix.expand(2, -1), ref)
    assert torch.allclose(torch.tensor(d.per_class["Speech"][:2]), expected, atol=1e-5)
    assert d.per_class["Speech"][2] == 0.0                                 # extra estimate -> 0
    assert abs(d.value - expected.sum().item() / 3) < 1e-5


def test_silence_and_empty_cases():
    ref, mix = _wavs(3), _wavs(1, seed=3)[0]
    noise = 0.01 * _wavs(3, seed=4)
    sil = ["silence"] * 3
    assert capi_sdri(sil, noise, sil, torch.zeros(3, 2000), mix) is None   # no event -> excluded
    assert capi_sdri(sil, noise, ["Cough", "silence", "silence"], ref, mix) == 0.0      # miss
    assert capi_sdri(["Cough", "silence", "silence"], noise, sil, ref, mix) == 0.0      # false alarm
    # silent estimate slots are ignored whatever they contain
    a = capi_sdri(["Cough", "silence", "silence"], torch.stack([ref[0], noise[1], noise[2]]),
                  ["Cough", "silence", "silence"], ref, mix)
    b = capi_sdri(["Cough", "silence", "silence"], torch.stack([ref[0], ref[1], ref[2]]),
                  ["Cough", "silence", "silence"], ref, mix)
    assert a == b


def test_batch_helper_and_mean():
    ref, mix = _wavs(3), _wavs(1, seed=3)[0]
    labels = [["Cough", "silence", "silence"], ["silence"] * 3]
    out = capi_sdri_batch(labels, torch.stack([ref, ref]), labels, torch.stack([ref, ref]), torch.stack([mix, mix]))
    assert out[1] is None and out[0] > 50
    assert mean_ignoring_none(out) == out[0]
    assert mean_ignoring_none([None, None]) is None
