"""Reports: the plots exist and decode, report.html embeds and links every one."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from exsim.cli import main
from exsim.config import parse_config
from exsim.output.report import ReportError, write_report
from exsim.sim import Simulation
from exsim.sweep import plan, run_sweep


def check_report(directory: Path, images: list[str]) -> None:
    page = (directory / "report.html").read_text()
    for name in images:
        picture = mpimg.imread(directory / name)
        assert picture.shape[0] > 100 and picture.shape[1] > 100  # a real image
        assert f'href="{name}"' in page and f'alt="{name}"' in page
    assert page.count("data:image/png;base64,") == len(images)


def test_run_report(tmp_path: Path) -> None:
    cfg = parse_config({"run": {"duration": 120.0},
                        "agents": [{"class": "market_maker", "deposit": 1_000_000.0},
                                   {"class": "noise", "count": 5, "params": {"rate": 0.5}}]})
    Simulation(cfg).run(tmp_path)
    write_report(tmp_path)
    check_report(tmp_path, ["prices.png", "fund.png", "liquidations.png", "open_interest.png"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "fund_to_oi" in summary and summary["fund_to_oi"]["end"] is not None


def test_sweep_report_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"sweep": {"seeds": 2, "grid": {"liquidation.fund_initial": [0.0, 100.0]}},
           "run": {"duration": 20.0}, "agents": [{"class": "noise", "count": 3}]}
    run_sweep(plan(doc), tmp_path, workers=1)
    assert main(["report", str(tmp_path)]) == 0
    assert str(tmp_path / "report.html") in capsys.readouterr().out
    check_report(tmp_path, ["p_adl.png", "drawdown.png"])
    with pytest.raises(ReportError, match="not a run directory"):
        write_report(tmp_path / "nowhere")
    assert main(["report", str(tmp_path / "nowhere")]) == 2
