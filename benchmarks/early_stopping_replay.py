"""Hyperband's schedule replayed on stored learning curves, for hundreds of seeds.

``early_stopping.py`` measures five seeds, and on this problem whether Hyperband reaches
random search's final best within 1/5 of its compute is close to a coin flip per seed:
five seeds cannot tell a schedule that wins 40% of the time from one that wins 60%. The
curves are deterministic (the model's own seed is fixed), so they can be computed once:
this script trains ``--pool-size`` random configurations of the same problem for all 81
epochs, storing both objectives at every epoch, then replays a strategy that draws its
configurations from that pool (uniformly, as random sampling does) for many seeds. Each
replayed run is charged exactly what ``early_stopping.py`` charges (every epoch of every
run; a promotion retrains from scratch, or, with ``checkpoints``, trains only the epochs
its checkpoint lacks) and its target is the best of 40 pool draws.

Only strategies whose configurations are random can be replayed this way (``hyperband``,
not ``bohb``, whose model proposes configurations outside the pool). ``random + asha`` is
replayed by :func:`replay_asha`, the arithmetic of ``early_stopping: asha`` on the stored
curves, one trial at a time.

Run (about 10 minutes on 2 cores to build the pool, then a minute per schedule)::

    python benchmarks/early_stopping_replay.py --pool curves.json --seeds 300
    python benchmarks/early_stopping_replay.py --pool curves.json --seeds 300 --first-seed 300
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from early_stopping import digits, make_model, score, tuneforge_space  # noqa: E402

from tuneforge.space import SearchSpace  # noqa: E402
from tuneforge.strategies.hyperband import Hyperband, hyperband_brackets  # noqa: E402
from tuneforge.trial import Trial, TrialState  # noqa: E402

MAX_EPOCHS = 81
BUDGET = 40 * MAX_EPOCHS
OBJECTIVES = ("error", "logloss")
Key = tuple[tuple[str, Any], ...]


def curves_of(params: dict[str, Any]) -> dict[str, Any]:
    """Both objectives after every epoch of one configuration (as ``early_stopping.train``)."""
    x_train, y_train, x_val, y_val = digits()
    model = make_model(params)
    curves: dict[str, list[float]] = {objective: [] for objective in OBJECTIVES}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for _ in range(MAX_EPOCHS):
            model.partial_fit(x_train, y_train, classes=np.arange(10))
            for objective in OBJECTIVES:
                curves[objective].append(score(model, x_val, y_val, objective))
    return {"params": params, **curves}


def build_pool(size: int, seed: int, jobs: int) -> list[dict[str, Any]]:
    space = SearchSpace(tuneforge_space(MAX_EPOCHS, with_resource=False))
    rng = np.random.default_rng(seed)
    configs = [
        {k: v.item() if hasattr(v, "item") else v for k, v in space.sample(rng).items()}
        for _ in range(size)
    ]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(curves_of, configs, chunksize=8))


def _key(config: dict[str, Any]) -> Key:
    return tuple(sorted((k, v) for k, v in config.items() if k != "epochs"))


def from_pool(base: type[Hyperband], pool: Sequence[dict[str, Any]]) -> type[Hyperband]:
    """``base`` drawing its new configurations uniformly from the pool's."""

    class FromPool(base):  # type: ignore[valid-type,misc]
        def _new_configuration(self, number: int) -> dict[str, Any]:
            return dict(pool[int(self.rng.integers(len(pool)))]["params"])

    return FromPool


class PaperSchedule(Hyperband):
    """Hyperband with the paper's brackets and order (no hedge, most aggressive first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brackets = hyperband_brackets(self.min_resource, self.max_resource, self.eta)

    def _bracket_order(self) -> list[int]:
        return list(range(len(self.brackets)))


def replay(strategy: Hyperband, curves: dict[Key, list[float]], target: float) -> float:
    """Epochs spent when a full-length run first scored ``target`` or better (inf: never).

    With ``strategy.checkpoints``, a promotion is charged the epochs beyond those of the
    trial it continues (``strategy.continues``), as a script that loads its checkpoint.
    """
    spent = 0
    number = 0
    trained: dict[int, int] = {}  # trial number -> epochs it ran
    while True:
        config = strategy.ask()
        assert config is not None
        epochs = int(config["epochs"])
        parent = strategy.continues(config) if strategy.checkpoints else None
        cost = epochs - (0 if parent is None else trained[parent])
        if spent + cost > BUDGET:
            return math.inf
        spent += cost
        trained[number] = epochs
        value = curves[_key(config)][epochs - 1]
        if epochs == MAX_EPOCHS and value <= target + 1e-12:
            return float(spent)
        strategy.tell(Trial(number, config, TrialState.COMPLETED, value=value, started_at=number))
        number += 1


def replay_asha(
    pool: Sequence[dict[str, Any]], objective: str, seed: int, target: float, eta: int = 3
) -> float:
    """``random + asha`` one trial at a time: a trial reaching rung 1, 3, 9, 27 goes on
    only while its value there is in the top 1/eta of the values recorded there so far
    (``ASHARule``); epochs spent when a full run first scored ``target`` or better."""
    rng = np.random.default_rng([seed, 1])
    rungs = [MAX_EPOCHS // eta**k for k in range(4, 0, -1)]
    seen: dict[int, list[float]] = {rung: [] for rung in rungs}
    spent = 0
    while True:
        curve = pool[int(rng.integers(len(pool)))][objective]
        cost = MAX_EPOCHS
        for rung in rungs:
            value = curve[rung - 1]
            competing = sorted([*seen[rung], value])
            seen[rung].append(value)
            if value > competing[max(len(competing) // eta, 1) - 1]:
                cost = rung
                break
        if spent + cost > BUDGET:
            return math.inf
        spent += cost
        if cost == MAX_EPOCHS and curve[MAX_EPOCHS - 1] <= target + 1e-12:
            return float(spent)


def measure(
    make: Callable[[int], Hyperband] | None,
    pool: Sequence[dict[str, Any]],
    objective: str,
    seeds: range,
) -> dict[str, float]:
    """``make(seed)``'s schedule replayed for every seed (``None``: ``random + asha``)."""
    curves = {_key(entry["params"]): entry[objective] for entry in pool}
    finals = np.array([entry[objective][MAX_EPOCHS - 1] for entry in pool])
    fractions = []
    for seed in seeds:
        draws = np.random.default_rng([seed, 40]).integers(len(pool), size=40)
        target = float(finals[draws].min())
        if make is None:
            fractions.append(replay_asha(pool, objective, seed, target) / BUDGET)
        else:
            fractions.append(replay(make(seed), curves, target) / BUDGET)
    reached = np.array(fractions)
    return {
        "median": float(np.median(reached)),
        "within_fifth": float(np.mean(reached <= 0.2)),
        "reached": float(np.mean(np.isfinite(reached))),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True, help="curves file (built when missing)")
    parser.add_argument("--pool-size", type=int, default=1500)
    parser.add_argument("--pool-seed", type=int, default=777)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    path = Path(args.pool)
    if not path.exists():
        path.write_text(json.dumps(build_pool(args.pool_size, args.pool_seed, args.jobs)))
    pool = json.loads(path.read_text())
    space = SearchSpace(
        tuneforge_space(MAX_EPOCHS, with_resource=False), static={"epochs": MAX_EPOCHS}
    )
    schedules: dict[str, tuple[type[Hyperband], bool] | None] = {
        "hyperband": (Hyperband, False),
        "hyperband, checkpoints: true": (Hyperband, True),
        "hyperband, paper's schedule": (PaperSchedule, False),
        "random + asha": None,
    }
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"{len(pool)} configurations, seeds {seeds.start}..{seeds.stop - 1}, budget {BUDGET}")
    print("\n| schedule | objective | runs within 1/5 of the budget | median | reached at all |")
    print("|---|---|---|---|---|")
    for name, schedule in schedules.items():
        make = None
        if schedule is not None:
            strategy, checkpoints = from_pool(schedule[0], pool), schedule[1]

            def make(seed: int, strategy: Any = strategy, checkpoints: bool = checkpoints) -> Any:
                return strategy(space, seed=seed, resource="epochs", eta=3, checkpoints=checkpoints)

        for objective in OBJECTIVES:
            result = measure(make, pool, objective, seeds)
            print(
                f"| {name} | {objective} | {result['within_fifth']:.0%} | "
                f"{result['median']:.2f} | {result['reached']:.0%} |"
            )


if __name__ == "__main__":
    main()
