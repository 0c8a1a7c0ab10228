"""Security catalogue: archives stay in their folder (see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations
