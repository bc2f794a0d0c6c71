"""Seed derivation: every actor and agent gets its own reproducible RNG stream.

Streams are derived from the run seed and a name with sha256, never with
``hash()`` (which ``PYTHONHASHSEED`` changes between processes), so the same
seed gives the same draws in every process and on every machine.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(run_seed: int, *parts: object) -> int:
    """A 64-bit seed for the stream named by ``parts`` within run ``run_seed``."""
    text = "/".join([str(run_seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def stream(run_seed: int, *parts: object) -> random.Random:
    """An independent ``random.Random`` for the stream named by ``parts``."""
    return random.Random(derive_seed(run_seed, *parts))
