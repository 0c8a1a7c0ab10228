"""Fixtures for the separator tests: the full-size ResUNet30 with the seeded parity weights."""
from __future__ import annotations

import pytest

from espnet2_ext.s5.separator import ResUNet30


@pytest.fixture(scope="session")
def seeded_resunet_state(parity_dir):
    """Official-layout state dict (keys with ``model.``) from the parity seeding rule;
    the fixed STFT buffers come from a fresh model of ours."""
    from parity import seeded

    rows = seeded.read_keys("resunet30_ckpt")
    fixed = seeded.fixed_from_model(ResUNet30().state_dict(), rows, prefix="model.")
    return seeded.seeded_state_dict(rows, seeded.RESUNET_SEED, fixed=fixed)


@pytest.fixture(scope="session")
def seeded_resunet(seeded_resunet_state):
    """Full-size ResUNet30 (eval mode) carrying the seeded parity weights."""
    model = ResUNet30()
    model.load_state_dict({k[len("model."):]: v for k, v in seeded_resunet_state.items()}, strict=True)
    return model.eval()
