"""The demo job: reproducible, invariant-clean, and its malformed requests are rejects."""

from __future__ import annotations

import json

import pytest

from exsim.cli import main
from exsim.demo import run_demo


def test_same_seed_same_log_and_invariants_hold() -> None:
    a = run_demo(seed=3, steps=3000, accounts=20)
    b = run_demo(seed=3, steps=3000, accounts=20)
    c = run_demo(seed=4, steps=3000, accounts=20)
    assert a == b
    assert a["digest"] != c["digest"]
    assert all(a["invariants"].values())
    assert a["fills"] > 0 and a["orders_accepted"] > 0
    for reason in ("BAD_PRICE", "BAD_QTY", "UNKNOWN_ACCOUNT", "UNKNOWN_ORDER"):
        assert a["rejects"][reason] > 0


def test_cli_prints_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "500", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 500 and summary["invariants"]["cash_conserved"] is True


def test_cli_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "0"]) == 2
    assert "--steps must be > 0" in capsys.readouterr().err
