"""Search quality: tuneforge's strategies against Optuna's samplers, side by side in one run.

Every method gets the same problems (``problems.py``), the same budget and the same seeds.
tuneforge's strategies run through ``tuneforge.optimize`` (the real controller, storage
and strategy); Optuna's samplers run in Optuna's own ``study.optimize`` loop, with the
same spaces suggested define-by-run (conditional parameters only when active).

For each problem the report gives the median (over seeds) of the best value found after
25%, 50% and 100% of the budget, and a normalized score at the full budget::

    score = 100 * (1 - (median best - optimum) / (median random-search best - optimum))

100 is the optimum, 0 is random search (the median over the runs of both random
searches, tuneforge's and Optuna's), below 0 is worse than random. Synthetic problems
have a known optimum; for the scikit-learn problems it is the best value any run found.
The summary averages the scores over problems and gives each method's mean rank (rank of
its median best on each problem, ties shared).

Usage (two worker processes, one BLAS thread each)::

    pip install torch==2.13.0   # only for Optuna's GPSampler; it is skipped without torch
    python benchmarks/search_quality.py --trials 50 --seeds 5 --jobs 2 --out sq.jsonl
    python benchmarks/search_quality.py --report sq.jsonl      # tables again, from the file

``--out`` is appended to as runs finish and runs already in it are skipped, so an
interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import PROBLEMS, Problem  # noqa: E402

TUNEFORGE_METHODS = ("auto", "auto-no-local", "bayesian", "forest", "random")
#: Variants of a strategy: (strategy, strategy options). ``auto-no-local`` is ``auto``
#: without its GP's local steps, to measure what they bring.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"auto-no-local": ("auto", {"local_every": 0})}
OPTUNA_METHODS = ("optuna-tpe", "optuna-gp", "optuna-random")
METHODS = (*TUNEFORGE_METHODS, *OPTUNA_METHODS)
#: Run by default. ``bayesian`` is left out because ``auto`` picks it on every problem of
#: the suite (its runs are the same sequences), ``random`` because Optuna's random search
#: is the reference already; ``--methods`` adds them.
DEFAULT_METHODS = ("auto", "forest", "optuna-tpe", "optuna-gp", "optuna-random")
RANDOM_METHODS = ("random", "optuna-random")
#: Rough cost of one evaluation, to start the slow problems first.
_COST = {
    "mlp_cancer": 8,
    "sgd_digits": 6,
    "svm_digits": 6,
    "rf_wine": 3,
    "gbm_diabetes": 3,
    "krr_diabetes": 1,
}


def have_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


# -- one run ---------------------------------------------------------------------------------


def _timed(problem: Problem, eval_times: list[float]) -> Any:
    def objective(params: Mapping[str, Any]) -> float:
        start = time.perf_counter()
        try:
            return problem.objective(params)
        finally:
            eval_times.append(time.perf_counter() - start)

    return objective


def run_tuneforge(problem: Problem, method: str, seed: int, trials: int) -> dict[str, Any]:
    import logging

    import tuneforge as tf

    choices: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            choices.append(record.getMessage())

    handler = Capture()
    logger = logging.getLogger("tuneforge.strategies.auto")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    eval_times: list[float] = []
    strategy, options = VARIANTS.get(method, (method, {}))
    start = time.perf_counter()
    try:
        result = tf.optimize(
            _timed(problem, eval_times),
            problem.space,
            strategy=strategy,
            strategy_options=options,
            max_trials=trials,
            seed=seed,
            direction="minimize",
        )
    finally:
        logger.removeHandler(handler)
    wall = time.perf_counter() - start
    values = [
        t.value if t.value is not None and t.state.value == "completed" else math.nan
        for t in result.trials
    ]
    return {"values": values, "wall": wall, "eval": sum(eval_times), "notes": choices}


def _suggest(trial: Any, space: Any) -> dict[str, Any]:
    from tuneforge.space import Categorical, Float, Int

    config: dict[str, Any] = {}
    for name, parameter in space.parameters.items():
        if not space.is_active(name, config):
            continue
        if isinstance(parameter, Float):
            config[name] = trial.suggest_float(
                name, parameter.low, parameter.high, log=parameter.log
            )
        elif isinstance(parameter, Int):
            config[name] = trial.suggest_int(name, parameter.low, parameter.high, log=parameter.log)
        else:
            assert isinstance(parameter, Categorical)
            config[name] = trial.suggest_categorical(name, list(parameter.values))
    return config


def run_optuna(problem: Problem, method: str, seed: int, trials: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "optuna-gp":
        import torch

        torch.set_num_threads(1)
        sampler: Any = optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    elif method == "optuna-tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    eval_times: list[float] = []
    objective = _timed(problem, eval_times)
    start = time.perf_counter()
    study.optimize(
        lambda t: objective(_suggest(t, problem.space)), n_trials=trials, catch=(ValueError,)
    )
    wall = time.perf_counter() - start
    values = [
        float(t.value) if t.value is not None and t.state.name == "COMPLETE" else math.nan
        for t in study.trials
    ]
    return {"values": values, "wall": wall, "eval": sum(eval_times), "notes": []}


def run_one(task: tuple[str, str, int, int]) -> dict[str, Any]:
    name, method, seed, trials = task
    problem = PROBLEMS[name]()
    runner = run_optuna if method.startswith("optuna-") else run_tuneforge
    out = runner(problem, method, seed, trials)
    return {"problem": name, "method": method, "seed": seed, "trials": trials, **out}


# -- the report ------------------------------------------------------------------------------


def best_so_far(values: Sequence[float]) -> np.ndarray:
    v = np.array([x if x is not None and math.isfinite(x) else math.inf for x in values])
    return np.minimum.accumulate(v)


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(runs: list[dict[str, Any]], trials: int) -> str:
    runs = [r for r in runs if r["trials"] == trials]
    problems = [p for p in PROBLEMS if any(r["problem"] == p for r in runs)]
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    checkpoints = [max(1, math.ceil(trials * f)) for f in (0.25, 0.5, 1.0)]
    lines: list[str] = []
    scores: dict[str, dict[str, float]] = {m: {} for m in methods}
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for name in problems:
        problem = PROBLEMS[name]()
        mine = [r for r in runs if r["problem"] == name]
        curves = {
            m: np.array([best_so_far(r["values"])[:trials] for r in mine if r["method"] == m])
            for m in methods
        }
        curves = {m: c for m, c in curves.items() if len(c) and c.shape[1] == trials}
        optimum = problem.optimum
        if optimum is None:
            optimum = min(float(c[:, -1].min()) for c in curves.values())
        random_runs = [c for m, c in curves.items() if m in RANDOM_METHODS]
        reference = float(np.median(np.vstack(random_runs)[:, -1])) if random_runs else math.nan
        n_seeds = max(len(c) for c in curves.values())
        lines.append(
            f"\n#### {name}: {problem.description} (optimum {optimum:.6g}"
            f"{' known' if problem.optimum is not None else ', best found'}; "
            f"median random best {reference:.6g}; {n_seeds} seeds)\n"
        )
        header = " | ".join(f"best @{c}" for c in checkpoints)
        lines.append(f"| method | {header} | score |")
        lines.append("|---|" + "---:|" * (len(checkpoints) + 1))
        medians = {}
        for m, c in curves.items():
            at = [float(np.median(c[:, k - 1])) for k in checkpoints]
            medians[m] = at[-1]
            gap = reference - optimum
            score = 100 * (1 - (at[-1] - optimum) / gap) if gap > 0 else math.nan
            scores[m][name] = score
            cells = " | ".join(f"{v:.5g}" for v in at)
            lines.append(f"| {m} | {cells} | {score:.1f} |")
        order = sorted(medians.values())
        for m, v in medians.items():
            positions = [i + 1 for i, o in enumerate(order) if o == v]
            ranks[m].append(float(np.mean(positions)))
    summary = [
        f"\n### Summary at {trials} trials\n",
        "| method | mean score | mean rank | overhead per trial (s) | "
        + " | ".join(problems)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(problems),
    ]
    for m in sorted(methods, key=lambda m: -np.nanmean(list(scores[m].values()))):
        mine = [r for r in runs if r["method"] == m]
        overhead = float(np.mean([(r["wall"] - r["eval"]) / r["trials"] for r in mine]))
        per_problem = " | ".join(f"{scores[m].get(p, math.nan):.0f}" for p in problems)
        summary.append(
            f"| {m} | {np.nanmean(list(scores[m].values())):.1f} | {np.mean(ranks[m]):.2f} | "
            f"{overhead:.3f} | {per_problem} |"
        )
    return "\n".join(summary + ["\n### Per problem"] + lines)


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--methods", nargs="*", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--out", type=Path, default=Path("search_quality.jsonl"))
    parser.add_argument("--report", type=Path, help="print the tables of a results file")
    args = parser.parse_args(argv)
    if args.report:
        print(report([r for r in load(args.report) if r["method"] in args.methods], args.trials))
        return
    methods = list(args.methods)
    if "optuna-gp" in methods and not have_torch():
        print(
            "note: torch is not installed, so Optuna's GPSampler is skipped "
            "(pip install torch==2.13.0 to include it)."
        )
        methods.remove("optuna-gp")
    done = {(r["problem"], r["method"], r["seed"], r["trials"]) for r in load(args.out)}
    tasks = [
        (p, m, s, args.trials)
        for p in sorted(args.problems, key=lambda p: -_COST.get(p, 0))
        for s in range(args.seeds)
        for m in methods
        if (p, m, s, args.trials) not in done
    ]
    print(f"{len(tasks)} runs to do ({len(done)} already in {args.out}), {args.jobs} workers")
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, maxtasksperchild=20) as pool, args.out.open("a") as out:
        for i, result in enumerate(pool.imap_unordered(run_one, tasks), start=1):
            out.write(json.dumps(result) + "\n")
            out.flush()
            best = float(np.nanmin(np.array(result["values"], dtype=float)))
            print(
                f"[{i}/{len(tasks)} {time.perf_counter() - started:6.0f}s] {result['problem']:13s} "
                f"{result['method']:13s} seed {result['seed']}: best {best:.5g} "
                f"({result['wall'] - result['eval']:.1f}s overhead)",
                flush=True,
            )
    print(report([r for r in load(args.out) if r["method"] in args.methods], args.trials))


if __name__ == "__main__":
    main()
