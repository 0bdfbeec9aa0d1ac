"""The parts the controller loop is made of: the tally, the curves, the coordination."""

from __future__ import annotations

import os
import socket

from tuneforge.controller import ControllerSettings, LeasedJob
from tuneforge.controller.coordination import Member, NextTrial
from tuneforge.controller.curves import Curves
from tuneforge.controller.progress import Tally
from tuneforge.executors.local import LocalExecutor
from tuneforge.space import Float, SearchSpace
from tuneforge.stopping import make_stopping_rule
from tuneforge.storage import ControllerLease, Storage
from tuneforge.strategies import make_strategy
from tuneforge.trial import Direction, Observation, OnInterrupt, Trial, TrialState

SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def test_the_tally_counts_ended_trials_and_keeps_the_best_in_its_direction() -> None:
    """Counts by state make the Progress; the best follows the direction; earlier trials
    count but are not listed as news."""
    tally = Tally(Direction.MAXIMIZE)
    tally.add_earlier([Trial(0, {}, TrialState.COMPLETED, value=0.5)])
    tally.add(Trial(1, {}, TrialState.COMPLETED, value=0.9))
    tally.add(Trial(2, {}, TrialState.COMPLETED, value=float("nan")))
    tally.add(Trial(3, {}, TrialState.INTERRUPTED))
    progress = tally.snapshot(running=(4,), max_trials=10, elapsed=2.0)
    assert (progress.n_completed, progress.n_interrupted, progress.n_done) == (3, 1, 4)
    assert progress.best is not None and progress.best.number == 1
    assert [t.number for t in progress.finished] == [1, 2, 3]
    assert tally.snapshot(running=(), max_trials=10, elapsed=3.0).finished == ()


def test_curves_ask_the_rule_once_per_trial_and_forget_an_interrupted_one() -> None:
    """A trial behind the others is stopped once; a retried attempt starts a new curve."""
    rule = make_stopping_rule("median", "minimize", {"n_startup_trials": 1, "n_warmup_steps": 0})
    curves = Curves(rule, "loss")
    for step in range(3):
        curves.observe(0, Observation("loss", 0.1, step, 0.0), judge=True)
    curves.recorded(Trial(0, {}, TrialState.COMPLETED, value=0.1))
    assert curves.observe(1, Observation("acc", 9.0, 0, 0.0), judge=True) is None
    reason = curves.observe(1, Observation("loss", 5.0, 0, 0.0), judge=True)
    assert reason is not None and "median" in reason
    assert curves.observe(1, Observation("loss", 6.0, 1, 0.0), judge=True) is None
    curves.restart(1)
    curves.recorded(Trial(1, {}, TrialState.INTERRUPTED))
    assert Curves(None, None).observe(2, Observation("loss", 1.0, 0, 0.0), judge=True) is None


def test_a_leased_job_starts_reruns_then_enqueued_then_the_strategy() -> None:
    """Interrupted trials run again first under their numbers, then the enqueued ones,
    then the strategy's, all created in one go; the strategy's say what they continue."""
    storage = Storage("sqlite://")
    storage.create_job(
        "job",
        document={},
        base_dir="",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=None,
        output_dir=None,
    )
    cut = storage.create_trial("job", {"x": 0.9})
    storage.start_trial("job", cut, trial_dir=None, pid=None, time=0.0)
    identity = ControllerLease("me", socket.gethostname(), os.getpid())
    member = Member(storage, "job", LocalExecutor(), identity, ControllerSettings())
    strategy = make_strategy("random", SPACE, seed=0)
    leased = LeasedJob(
        member, strategy, enqueue=[{"x": 0.5}], max_trials=5, on_interrupt=OnInterrupt.RERUN
    )
    trials, ran_before = leased.prepare()
    assert [t.state for t in trials] == [TrialState.INTERRUPTED] and ran_before == 0.0
    started = leased.next_trials(3)
    assert started[:2] == [NextTrial(0, {"x": 0.9}, None), NextTrial(1, {"x": 0.5}, None)]
    assert started[2].number == 2 and started[2].continues is None
    assert [t.origin for t in storage.trials("job")] == ["strategy", "enqueued", "strategy"]
    leased.release(1.0)
    assert storage.get_job("job").controller is None
