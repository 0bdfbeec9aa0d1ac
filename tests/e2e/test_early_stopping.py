"""End to end: `early_stopping` ends real trial processes whose curves lag behind."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tests.e2e.conftest import Cli, MakeJob

CURVE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    x = float(sys.argv[1])
    for epoch in range(30):
        print(f"epoch={epoch} loss={x / (epoch + 1):.6f}", flush=True)
        time.sleep(0.05)
    """
)


def test_asha_stops_the_lagging_trials_and_keeps_their_curves(
    make_job: MakeJob, cli: Cli, workspace: Path
) -> None:
    """Bad configurations after good ones are STOPPED_EARLY with a reason and a short curve."""
    (workspace / "curve.py").write_text(CURVE_SCRIPT)
    job = make_job(
        "asha",
        command=[sys.executable, "curve.py", "${x}"],
        parameters={"x": {"type": "float", "low": 0, "high": 10}},
        strategy="design",
        design=[{"x": 1.0}, {"x": 2.0}, {"x": 1.5}, {"x": 9.0}, {"x": 8.0}, {"x": 0.5}],
        early_stopping={"rule": "asha", "min_resource": 1, "reduction_factor": 3},
        limits={"max_trials": 6, "max_parallel": 1},
    )
    result = cli("run", str(job))
    assert result.exit_code == 0, result.output
    trials = cli.json("trials", "asha", "--format", "json")
    states = [t["state"] for t in trials]
    assert states[3] == "stopped_early" and states[4] == "stopped_early"
    assert states[5] == "completed"
    assert "ASHA at rung" in trials[3]["reason"]
    log = cli("logs", "asha", "3").output
    assert "epoch=1 " in log and "epoch=29" not in log
    best = cli.json("best", "asha", "--json")
    assert best["number"] == 5
