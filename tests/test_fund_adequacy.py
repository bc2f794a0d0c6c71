"""`exsim adequacy`: the quantile and its distribution-free interval by hand, the sizing on
made-up runs, and the whole command on a tiny venue, twice, with the same answer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.fund_adequacy import quantile_with_ci, size


def test_the_quantile_and_its_interval_by_hand() -> None:
    """Values 1..20.  The 0.9 quantile is the 18th smallest (ceil(20 x 0.9)).  Its 95%
    interval: the largest l with P(Bin(20, 0.9) >= l) >= 0.975 is 15 (P = 0.989; for 16,
    0.957), the smallest u with P(Bin(20, 0.9) <= u - 1) >= 0.975 is 20 (P(<= 19) =
    0.878: not enough: no upper bound).  The 0.5 quantile (10th) lies in [6, 15]."""
    values = [float(v) for v in range(20, 0, -1)]
    assert quantile_with_ci(values, 0.9) == (18.0, 15.0, None)
    assert quantile_with_ci(values, 0.5) == (10.0, 6.0, 15.0)
    assert quantile_with_ci([], 0.5) == (None, None, None)


def summary(need: float, oi: float, losses: list[float]) -> dict[str, Any]:
    return {"adequacy": {"fund_mtm_drawdown": need, "oi_start": oi,
                         "largest_stressed_losses": losses}}


def test_sizing_on_made_up_runs() -> None:
    """Twenty runs needing 0, 100, ..., 1,900 (OI 10,000 each): at P(ADL) <= 0.1 the fund
    is the 18th smallest need, 1,700 (two runs, 10%, need more), 17% of OI; cover 1 is
    that fund over the median largest stressed loss (850), cover 2 over the median of
    the two largest (1,275)."""
    runs = [summary(100.0 * i, 10_000.0, [50.0 * i, 25.0 * i]) for i in range(20)]
    out = size(runs, (0.05, 0.1, 0.5))
    t = out["targets"]["0.1"]
    assert t["fund"] == 1700.0 and t["fund_over_oi"] == pytest.approx(0.17)
    assert sum(1 for r in runs if r["adequacy"]["fund_mtm_drawdown"] > t["fund"]) / 20 <= 0.1
    assert out["cover1"] == pytest.approx(1700 / 450) and out["runs"] == 20
    assert out["cover2"] == pytest.approx(1700 / 675)


TINY = """
[run]
seed = 3
[exchange]
feed_interval_ms = 500.0
[oracle]
interval_ms = 2000.0
[liquidation]
fund_initial = 1000.0
[[agents]]
class = "market_maker"
count = 2
deposit = 2000000.0
leverage = 5
params = { quote_lots = 200, requote_s = 2.0 }
[[agents]]
class = "leveraged"
count = 12
deposit = 5000.0
params = { leverage_min = 10, leverage_max = 40, p_long = 0.7, wait_mean_s = 30 }
[output]
name = "tiny"
"""


def test_the_command_on_a_tiny_venue_gives_the_same_answer_twice(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    answers = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["adequacy", str(config), "--seeds", "1", "--stochastic", "2",
                     "--verify", "1", "--workers", "2", "--out", str(out)]) == 0
        result = json.loads((out / "adequacy.json").read_text())
        assert set(result["targets"]) == {"0.01", "0.05", "0.1"}
        for t in result["targets"].values():
            assert {"fund", "fund_over_oi", "ci"} <= set(t) and len(t["ci"]) == 2
        assert result["runs"] == 6 and result["seeds"] == [3]
        assert "verified" in result and (out / "report.html").exists()
        answers.append(result)
    assert answers[0] == answers[1]
    needs = answers[0]["needs"]
    fund = answers[0]["targets"]["0.1"]["fund"]
    assert fund == sorted(needs)[math.ceil(len(needs) * 0.9) - 1]


@pytest.mark.parametrize(("args", "message"), [
    (["--targets", "0.05,1.5"], "--targets: each must be in (0, 1)"),
    (["--targets", "five"], "--targets: a comma-separated list of probabilities"),
    (["--seeds", "0"], "--seeds must be > 0"),
])
def test_bad_adequacy_arguments_are_one_line(tmp_path: Path, args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    assert main(["adequacy", str(config), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
