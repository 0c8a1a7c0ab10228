"""Fixtures of the metric tests: the official parity cases (built once per session)."""
import pytest


@pytest.fixture(scope="session")
def metric_cases(parity_dir):
    """seeded.metric_cases(2026, 100, 8000) and the official expected values."""
    from parity import seeded

    return seeded.metric_cases(2026, 100, 8000), seeded.load_expected("capi_sdri.json")
