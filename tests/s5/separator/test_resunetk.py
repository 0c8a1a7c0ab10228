"""ResUNet30 ("ResUNetK") parity with the official baseline and its interfaces."""
import numpy as np
import pytest
import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.separator import ResUNet30, separator_choices


def _query(slot_labels):
    from parity import seeded

    return torch.stack([seeded.separator_label_vector(s) for s in slot_labels])


def _case(name):
    """(audio [B,4,L], label vectors [B,54], expected json) of a parity case."""
    from parity import seeded

    case = seeded.load_expected("resunet30.json")[name]
    x = seeded.structured_audio(**case["audio"])
    assert float(x.double().sum()) == pytest.approx(case["input"]["sum"], rel=1e-6)
    assert float(x.double().abs().sum()) == pytest.approx(case["input"]["abs_sum"], rel=1e-6)
    return x, _query(case["slot_labels"]), case


def test_official_key_names_and_shapes(parity_dir):
    from parity import seeded

    official = {k[len("model."):]: shape for k, shape, _, _ in seeded.read_keys("resunet30_ckpt")}
    ours = {k: tuple(v.shape) for k, v in ResUNet30().state_dict().items()}
    assert ours == official
    assert "film.encoder_block1->conv_block1->beta1.weight" in ours


def test_parameter_counts():
    model = ResUNet30()
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert n(model) == 29_888_747
    frozen = {n: p.numel() for n, p in model.named_parameters() if not p.requires_grad}
    kernels = sum(v for n, v in frozen.items() if ".stft." in n or ".istft." in n)
    assert kernels == 3_147_776                                     # the DFT kernels
    unused = {n for n in frozen if ".stft." not in n and ".istft." not in n}
    assert len(unused) == 24 and all(".bn2." in n or n.endswith(("->beta2.weight", "->beta2.bias"))
                                     for n in unused)
    assert all(n.startswith(("base.decoder_block", "film.decoder_block")) for n in unused)
    assert n(model.label_embedding) == 292_864 and n(model.film) == 5_056_128
    narrow = ResUNet30(base_channels=8)
    assert n(narrow) < 0.3 * n(model)
    assert narrow.base.encoder_block5.conv_block1.conv2.weight.shape[0] == 96


def test_parity_2s(seeded_resunet, seeded_resunet_state):
    from parity.seeded import load_expected

    x, lv, case = _case("case_2s")
    assert lv.tolist() == case["label_vector"]
    with torch.no_grad():
        out = seeded_resunet({"mixture": x, "label_vector": lv})
    expected = load_expected("resunet30_out_2s.npy")
    assert out["waveform"].shape == expected.shape == (2, 3, 1, 64000)
    assert (out["waveform"] - expected).abs().max() <= 1e-4
    assert out["source_mask"].tolist() == case["source_mask"]
    silent = out["source_mask"] == 0
    assert torch.all(out["waveform"][silent] == 0)
    assert out["waveform"][~silent].abs().amax(-1).min() > 1e-3
    # out_conv.bias moves the output by ~1e-6 only: check the loaded value itself
    assert torch.equal(seeded_resunet.base.out_conv.bias, seeded_resunet_state["model.base.out_conv.bias"])


def test_parity_10s_fingerprint_and_energy(seeded_resunet):
    from parity.seeded import every_nth, load_expected

    x, lv, case = _case("case_10s")
    with torch.no_grad():
        y = seeded_resunet.separate(x, lv)
    assert y.shape == (1, 3, 1, 320000)
    fingerprint = load_expected(case["fingerprint_file"])
    assert fingerprint.shape == (1, 3, 1, 8000)
    assert np.abs(every_nth(y, 40) - fingerprint.reshape(-1).numpy()).max() <= 1e-4
    energy = (y.double() ** 2).sum(-1)[:, :, 0]
    assert np.allclose(energy.numpy(), np.asarray(case["slot_energy"]), rtol=1e-4, atol=0)
    assert float(y.abs().max()) == pytest.approx(case["output_max_abs"], rel=1e-4)


@pytest.fixture(scope="module")
def narrow():
    torch.manual_seed(0)
    return ResUNet30(base_channels=8).eval()


def test_narrow_model_conventions_agree(narrow):
    x = torch.randn(2, 4, 3200, generator=torch.Generator().manual_seed(1))
    lv = _query([["Speech", "silence", "Cough"], ["silence", "silence", "silence"]])
    with torch.no_grad():
        official = narrow({"mixture": x, "label_vector": lv})
        plain = narrow.separate(x, lv)
        sources, ilens, others = narrow(x.transpose(1, 2), torch.tensor([3200, 3200]), {"label_vector": lv})
    assert official["waveform"].shape == (2, 3, 1, 3200)
    assert official["source_mask"].tolist() == [[1, 0, 1], [0, 0, 0]]
    assert torch.equal(official["waveform"], plain)
    assert torch.all(plain[0, 1] == 0) and torch.all(plain[1] == 0) and plain[0, 0].abs().max() > 0
    assert len(sources) == narrow.num_spk == 3
    assert torch.equal(torch.stack(sources, 1), plain[:, :, 0]) and ilens.tolist() == [3200, 3200]
    assert torch.equal(others["source_mask"], official["source_mask"])


def test_narrow_model_trains_and_query_matters(narrow):
    model = ResUNet30(base_channels=8).train()
    x = torch.randn(2, 4, 3200, generator=torch.Generator().manual_seed(2))
    lv = _query([["Speech", "Dishes", "silence"], ["FootSteps", "silence", "FootSteps"]])
    y = model.separate(x, lv)
    y.pow(2).mean().backward()
    assert model.film["decoder_block6->conv_block2->beta2"].weight.grad.abs().sum() > 0
    assert model.label_embedding[0].weight.grad.abs().sum() > 0
    assert model.base.stft.conv_real.weight.grad is None                 # frozen kernels
    with torch.no_grad():
        a = narrow.separate(x, lv)
        b = narrow.separate(x, lv.roll(1, dims=1))
    assert not torch.allclose(a[:, 0], b[:, 0])


def test_frozen_unused_parameters_get_no_gradient_and_training_is_unchanged():
    """The 24 never-used tensors (decoder bn2, FiLM beta2) are frozen; every trainable
    parameter gets a gradient (DDP needs no unused-parameter search), and AdamW steps give
    the same weights as with the official flags (those tensors trainable but never reached)."""
    x = torch.randn(2, 4, 3200, generator=torch.Generator().manual_seed(5))
    lv = _query([["Speech", "Dishes", "silence"], ["FootSteps", "silence", "FootSteps"]])

    def train(unfreeze: bool):
        torch.manual_seed(0)
        model = ResUNet30(base_channels=8).train()
        if unfreeze:   # the official flags: every learned tensor trainable
            for name, p in model.named_parameters():
                p.requires_grad_(".stft." not in name and ".istft." not in name)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True)
        for _ in range(3):
            opt.zero_grad()
            model.separate(x, lv).pow(2).mean().backward()
            if not unfreeze:
                assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
            opt.step()
        return model.state_dict()

    ours, official = train(unfreeze=False), train(unfreeze=True)
    assert ours.keys() == official.keys()
    for k in ours:
        assert torch.equal(ours[k], official[k]), k


def test_registry_and_abs_separator():
    AbsSeparator = quiet_import("espnet2.enh.separator.abs_separator").AbsSeparator
    assert separator_choices.get_class("resunetk") is ResUNet30
    assert issubclass(ResUNet30, AbsSeparator)
    with pytest.raises(ValueError, match="label_vector"):
        ResUNet30(base_channels=8)(torch.zeros(1, 3200, 4), torch.tensor([3200]))
    with pytest.raises(ValueError, match=r"\[B, 4, L\]"):
        ResUNet30(base_channels=8).separate(torch.zeros(1, 2, 3200), torch.zeros(1, 54))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_parity_2s_cuda(seeded_resunet_state):
    from parity.seeded import load_expected

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    model = ResUNet30().cuda()
    model.load_state_dict({k[len("model."):]: v for k, v in seeded_resunet_state.items()})
    x, lv, _ = _case("case_2s")
    with torch.no_grad():
        y = model.eval().separate(x.cuda(), lv.cuda()).cpu()
    assert (y - load_expected("resunet30_out_2s.npy")).abs().max() <= 1e-4


def test_runs_in_float64_and_agrees_with_float32():
    """``model.double()`` trains and decodes in float64 (no island rounds it down to float32)
    and gives the float32 values up to float32 rounding."""
    x = torch.randn(2, 4, 3200, generator=torch.Generator().manual_seed(7))
    lv = _query([["Speech", "Dishes", "silence"], ["FootSteps", "silence", "FootSteps"]])
    torch.manual_seed(0)
    single = ResUNet30(base_channels=8).train()
    double = ResUNet30(base_channels=8).train()
    double.load_state_dict(single.state_dict())
    double.double()
    y32 = single.separate(x, lv)
    y64 = double.separate(x.double(), lv.double())
    assert y64.dtype == torch.float64
    y32.pow(2).mean().backward()
    y64.pow(2).mean().backward()
    assert double.base.pre_conv.weight.grad.dtype == torch.float64
    assert float((y64 - y32.double()).abs().max()) <= 1e-4 * float(y64.abs().max())
    g32, g64 = single.base.pre_conv.weight.grad, double.base.pre_conv.weight.grad
    assert float((g64 - g32.double()).abs().max()) <= 1e-3 * float(g64.abs().max())
    with torch.no_grad():
        assert double.eval().separate(x.double(), lv.double()).dtype == torch.float64
