"""Stable seeds derived from a run's seed and the purpose they serve."""

from __future__ import annotations

import hashlib


def derived_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (run seed, iteration, round, purpose...)."""
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF
