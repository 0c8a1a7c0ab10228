"""Fixtures for the synthesizer tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from synth_corpus import build_corpus


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The corpus root (the folder holding dev_set/, what ``data/`` maps to)."""
    return build_corpus(tmp_path_factory.mktemp("corpus"))
