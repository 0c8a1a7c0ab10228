"""Security catalogue: option values never reach a shell (see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations
