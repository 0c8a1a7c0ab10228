"""Security catalogue: model files never run code (see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations
