"""The determinism rule of ../shared/DESIGN.md, checked: no hidden entropy in core or actors.

Global RNG functions, wall-clock reads, ``hash()`` (salted per process) and OS
randomness would make two runs of the same seed differ.  Seeded
``random.Random`` instances (``exsim.rng.stream``) are the only source allowed.
The check walks each module's syntax tree for calls to the forbidden names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "exsim"
FORBIDDEN = {
    *(f"random.{f}" for f in ("random", "randint", "randrange", "choice", "choices", "shuffle",
                              "uniform", "gauss", "sample", "seed", "getrandbits")),
    "time.time", "time.perf_counter", "time.monotonic", "time.time_ns",
    "datetime.now", "datetime.datetime.now", "datetime.utcnow",
    "hash", "os.urandom", "uuid.uuid4", "secrets.token_bytes", "secrets.randbelow",
}
FILES = sorted([*ROOT.glob("core/*.py"), *ROOT.glob("actors/*.py"), ROOT / "rng.py"])


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def forbidden_calls(source: str) -> list[str]:
    return [name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
            for name in [dotted(node.func)] if name in FORBIDDEN]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_no_hidden_entropy(path: Path) -> None:
    assert forbidden_calls(path.read_text()) == []


def test_the_check_catches_what_it_should() -> None:
    bad = "x = random.random()\ny = time.time()\nz = hash(s)\nok = rng.random()\n"
    assert forbidden_calls(bad) == ["random.random", "time.time", "hash"]
