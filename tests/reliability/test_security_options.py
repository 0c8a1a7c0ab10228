"""Security catalogue: option values never reach a shell; names in outputs are escaped (see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations
