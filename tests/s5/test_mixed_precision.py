"""Mixed precision is safe: finite losses and gradients of both models under autocast (CPU).

espnet2's ``--use_amp true`` autocasts the forward (bfloat16 where the GPU supports it,
float16 otherwise). The numerically fragile steps (spectra, magnitudes, log-mel, losses)
run in float32 inside the models, so float16 gives no NaN/Inf. CPU autocast runs the same
code paths and dtype rules as the GPU one for these ops.
"""
from __future__ import annotations

import pytest
import torch

from espnet2_ext.s5.espnet_model_sep import ESPnetS5SeparatorModel
from espnet2_ext.s5.espnet_model_tag import ESPnetS5TaggerModel
from espnet2_ext.s5.labels import NUM_CLASSES, SILENCE_INDEX
from espnet2_ext.s5.loss import loss_choices
from espnet2_ext.s5.separator import ResUNet30, ResUNet30Iterative
from espnet2_ext.s5.tagger import M2dAtSpatial, fabricate_m2d_weight_file

DTYPES = [torch.float16, torch.bfloat16]


def assert_finite_step(model: torch.nn.Module, batch: dict, dtype: torch.dtype) -> None:
    model.train()
    with torch.autocast("cpu", dtype=dtype):
        loss, stats, weight = model(**batch)
    assert torch.isfinite(loss).all(), f"loss {loss} under {dtype}"
    assert all(torch.isfinite(v).all() for v in stats.values())
    loss.sum().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for name, p in trainable:
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name} under {dtype}"


def separator_batch(generator: torch.Generator) -> dict:
    query = torch.zeros(2, 3, NUM_CLASSES)
    query[0, 0, 3] = query[0, 1, 3] = query[1, 0, 7] = 1          # a same-class pair, a silent item slot
    dry = torch.randn(2, 3, 1, 3200, generator=generator) * (query.sum(-1) > 0)[..., None, None]
    mixture = dry.sum(1).repeat(1, 4, 1) + 0.01 * torch.randn(2, 4, 3200, generator=generator)
    return {"mixture": mixture, "label_vector": query.reshape(2, -1), "dry_sources": dry}


@pytest.mark.parametrize("separator", [ResUNet30, ResUNet30Iterative])
@pytest.mark.parametrize("dtype", DTYPES)
def test_separator_step_is_finite_under_autocast(dtype, separator):
    torch.manual_seed(0)
    model = ESPnetS5SeparatorModel(separator(base_channels=8), loss_choices.get_class("capi_pit")())
    assert_finite_step(model, separator_batch(torch.Generator().manual_seed(1)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tagger_step_is_finite_under_autocast(tmp_path, dtype):
    torch.manual_seed(0)
    weights = fabricate_m2d_weight_file(tmp_path, seed=0, embed_dim=64, depth=2, num_heads=2)
    tagger = M2dAtSpatial(weights, finetuning_layers="all")
    model = ESPnetS5TaggerModel(tagger, loss_choices.get_class("label_pit")())
    target = torch.zeros(2, 3, NUM_CLASSES + 1)
    target[0, 0, 2] = target[0, 1, SILENCE_INDEX] = target[0, 2, SILENCE_INDEX] = 1
    target[1, :, SILENCE_INDEX] = 1
    mixture = torch.randn(2, 4, 16000, generator=torch.Generator().manual_seed(2))
    assert_finite_step(model, {"mixture": mixture, "label_vector": target}, dtype)


def test_separator_under_autocast_stays_close_to_float32():
    """The reduced-precision U-Net changes the output by rounding only (bf16: ~1e-2 relative)."""
    torch.manual_seed(0)
    model = ResUNet30(base_channels=8).eval()
    batch = separator_batch(torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model.separate(batch["mixture"], batch["label_vector"])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.separate(batch["mixture"], batch["label_vector"])
    assert low.dtype == torch.float32
    assert (low - ref).norm() / ref.norm() < 0.1


@pytest.mark.parametrize("pair", ["resunetk", "resunetk_iter", "sed_tfilm"])
def test_bf16_decoding_precision_keeps_labels_and_float32_outputs(tmp_path, pair):
    """S5Pipeline(precision="bf16") for each separator (and the SED tagger that a Time-FiLM
    separator needs): the fp32 labels, float32 probabilities and waveforms within bf16 rounding."""
    from espnet2_ext.s5.pipeline import S5Pipeline
    from espnet2_ext.s5.separator.resunetk_tfilm import ResUNet30TimeFiLM
    from espnet2_ext.s5.tagger.m2d_sed import M2dSedSpatial

    torch.manual_seed(0)
    weights = fabricate_m2d_weight_file(tmp_path, seed=0, embed_dim=64, depth=2, num_heads=2)
    tagger, separator = {"resunetk": (M2dAtSpatial, ResUNet30), "resunetk_iter": (M2dAtSpatial, ResUNet30Iterative),
                         "sed_tfilm": (M2dSedSpatial, ResUNet30TimeFiLM)}[pair]
    tagger, separator = tagger(weights), separator(base_channels=8)
    mixture = 0.1 * torch.randn(1, 4, 32000, generator=torch.Generator().manual_seed(4))
    ref = S5Pipeline(tagger, separator)(mixture)
    low = S5Pipeline(tagger, separator, precision="bf16")(mixture)
    assert low.labels == ref.labels
    assert low.waveform.dtype == low.probabilities.dtype == torch.float32
    assert (low.probabilities - ref.probabilities).abs().max() < 0.01
    assert 0 < (low.waveform - ref.waveform).norm() / ref.waveform.norm() < 0.05
