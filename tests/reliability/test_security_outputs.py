"""Security catalogue: names in outputs are escaped and validated; dict-valued options are safe YAML
(see reliability_cases.SECURITY_CASES)."""
from __future__ import annotations
