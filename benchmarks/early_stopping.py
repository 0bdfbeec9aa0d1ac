"""Early stopping and Hyperband at equal compute, on real learning curves.

The problem: a scikit-learn ``MLPClassifier`` trained epoch by epoch (``partial_fit``) on
the digits data set (ships with scikit-learn), up to ``--max-epochs`` epochs (81); the
objective is the validation error after the last epoch trained (60/20/20 split as in
``examples/digits-mlp``). Six hyperparameters: learning rate, batch size, optimizer, momentum
(sgd only), L2 penalty, hidden units. Curves are real: slow learning rates start badly and
catch up, large ones start well and plateau or diverge.

Compute is counted in epochs trained, whatever the method: a trial stopped after 3 epochs
costs 3, a Hyperband run on 27 epochs costs 27 (without checkpoints a promoted
configuration trains again from scratch; ``+ checkpoints``: it loads the model its run on
the rung below saved in its trial folder, ``trial.resume_dir``, and trains, and is
charged, only the epochs that model lacks). Every method gets the same budget,
``--budget-trials`` full trainings (40 x 81 = 3240 epochs), and each run ends when it is
spent. A configuration counts as *found* once it has been trained on all
``--max-epochs`` epochs (a lower-fidelity value is never taken as a result).

Methods (same search space, same seeds):

* tuneforge, through ``tuneforge.optimize`` with an in-process objective that reports
  each epoch (``trial.report`` / ``trial.should_stop``): ``random`` (every trial runs all
  epochs), ``random + median`` (``early_stopping="auto"``), ``random + asha``,
  ``hyperband`` (resource = epochs, 1..81, eta 3), ``bohb`` (the same brackets, new
  configurations from the ``forest`` model), both also with ``checkpoints: true`` and an
  objective that saves and loads its model, and ``forest + asha`` (the forest strategy,
  every trial judged by ASHA as it runs);
* Optuna, run the same way: ``RandomSampler`` with ``MedianPruner``,
  ``SuccessiveHalvingPruner`` and ``HyperbandPruner`` (min resource 1, reduction factor 3,
  as ours), and ``TPESampler`` with ``HyperbandPruner`` (Optuna's model-based peer).

For every seed, the target is the best validation error random search found with the
whole budget. The summary gives, per method, the compute needed to reach that target (as a
fraction of the budget; median over seeds, and on how many seeds it was reached at all)
and the best error found at one fifth and at all of the budget.

Run (2 cores: about 20 minutes)::

    python benchmarks/early_stopping.py --seeds 5 --jobs 2 --output early_stopping.json

``--quick`` runs a tiny version (two seeds, 6 full trainings of 27 epochs) as a smoke test.
"""

from __future__ import annotations

import os

# One BLAS thread per run: runs go in parallel processes, and threads would fight.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

TUNEFORGE_METHODS = (
    "random",
    "random + median",
    "random + asha",
    "hyperband",
    "bohb",
    "hyperband + checkpoints",
    "bohb + checkpoints",
    "forest + asha",
)
OPTUNA_METHODS = (
    "optuna random + MedianPruner",
    "optuna random + SuccessiveHalvingPruner",
    "optuna random + HyperbandPruner",
    "optuna TPE + HyperbandPruner",
)
METHODS = TUNEFORGE_METHODS + OPTUNA_METHODS
#: The model-based variant's options (its defaults but the model, named for clarity).
BOHB_OPTIONS: dict[str, Any] = {"model": "forest"}


# -- the problem ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, ...]:
    """Train, validation and test splits of digits (60/20/20, stratified, fixed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x, y = data.data / 16.0, data.target
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=0, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest
    )
    return x_train, y_train, x_val, y_val


def make_model(params: dict[str, Any]) -> Any:
    """The MLP of one configuration, untrained (its seed is fixed: one curve per config)."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(int(params["hidden"]),),
        solver=str(params["optimizer"]),
        learning_rate_init=float(params["lr"]),
        momentum=float(params.get("momentum", 0.9)),
        alpha=float(params["alpha"]),
        batch_size=int(params["batch_size"]),
        random_state=0,
    )


def train(
    params: dict[str, Any],
    epochs: int,
    ledger: Ledger,
    after_epoch: Callable[[int, float], bool],
    resume_dir: Path | None = None,
    save_dir: Path | None = None,
) -> float:
    """Train up to ``epochs`` epochs, each charged to ``ledger`` before it runs;
    ``after_epoch(epoch, error)`` returns True to stop early. The model starts from the
    checkpoint in ``resume_dir`` when there is one, and is saved in ``save_dir``."""
    x_train, y_train, x_val, y_val = digits()
    model, done = make_model(params), 0
    if resume_dir is not None and (resume_dir / CHECKPOINT).exists():
        with open(resume_dir / CHECKPOINT, "rb") as handle:
            model, done = pickle.load(handle)
    classes = np.arange(10)
    error = 1.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for epoch in range(done + 1, epochs + 1):
            ledger.epoch()  # raises Exhausted once the budget is spent
            model.partial_fit(x_train, y_train, classes=classes)
            error = score(model, x_val, y_val, ledger.objective)
            ledger.trained(epoch, error)
            done = epoch
            if after_epoch(epoch, error):
                break
    if save_dir is not None:
        with open(save_dir / CHECKPOINT, "wb") as handle:
            pickle.dump((model, done), handle)
    return error


#: The file a trial saves its model in, with the epochs it trained.
CHECKPOINT = "checkpoint.pkl"


#: Validation log-loss given to a model whose probabilities are not finite (it diverged);
#: guessing uniformly scores log(10) = 2.30.
LOG_LOSS_CAP = 5.0


def score(model: Any, x: np.ndarray, y: np.ndarray, objective: str) -> float:
    """Validation error rate (``error``) or cross-entropy (``logloss``), lower is better."""
    if objective == "error":
        return 1.0 - float(model.score(x, y))
    from sklearn.metrics import log_loss

    proba = model.predict_proba(x)
    if not np.all(np.isfinite(proba)):
        return LOG_LOSS_CAP
    return min(float(log_loss(y, proba, labels=np.arange(10))), LOG_LOSS_CAP)


class Exhausted(Exception):
    """The run spent its budget; it ends here."""


@dataclass
class Ledger:
    """Counts the epochs a run trains and records every full-length training's error."""

    budget: int
    max_epochs: int
    objective: str = "error"
    spent: int = 0
    n_trials: int = 0
    found: list[tuple[int, float]] = field(default_factory=list)  # (epochs spent, error)

    def epoch(self) -> None:
        """Called before training an epoch."""
        if self.spent >= self.budget:
            raise Exhausted
        self.spent += 1

    def trained(self, epoch: int, error: float) -> None:
        if epoch == self.max_epochs:
            self.found.append((self.spent, error))


# -- tuneforge --------------------------------------------------------------------------------


def tuneforge_space(max_epochs: int, with_resource: bool) -> dict[str, Any]:
    import tuneforge as tf

    space: dict[str, Any] = {
        "lr": tf.Float(1e-4, 0.5, log=True),
        "batch_size": tf.Int(16, 256, log=True),
        "optimizer": tf.Categorical(["sgd", "adam"]),
        "momentum": tf.Float(0.5, 0.99, when={"optimizer": "sgd"}),
        "alpha": tf.Float(1e-6, 1e-1, log=True),
        "hidden": tf.Int(8, 128, log=True),
    }
    if with_resource:
        space["epochs"] = max_epochs
    return space


def run_tuneforge(method: str, seed: int, ledger: Ledger) -> None:
    from tuneforge.optimize import RunningTrial, optimize

    max_epochs = ledger.max_epochs

    def objective(params: dict[str, Any], trial: RunningTrial) -> float:
        ledger.n_trials += 1
        epochs = int(params.get("epochs", max_epochs))

        def after_epoch(epoch: int, error: float) -> bool:
            trial.report(error, epoch)
            return trial.should_stop()

        if not checkpoints:
            return train(params, epochs, ledger, after_epoch)
        return train(params, epochs, ledger, after_epoch, trial.resume_dir, trial.dir)

    checkpoints = method.endswith(" + checkpoints")
    strategy = method.removesuffix(" + checkpoints")
    options: dict[str, Any] = {"strategy": "random"}
    if method == "random + median":
        options["early_stopping"] = "auto"
    elif method in ("random + asha", "forest + asha"):
        options["early_stopping"] = {"rule": "asha", "min_resource": 1, "reduction_factor": 3}
        if method == "forest + asha":
            options["strategy"] = "forest"
    elif strategy in ("hyperband", "bohb"):
        options["strategy"] = strategy
        options["strategy_options"] = {"resource": "epochs", "min_resource": 1, "eta": 3}
        if checkpoints:
            options["strategy_options"]["checkpoints"] = True
        if strategy == "bohb":
            options["strategy_options"].update(BOHB_OPTIONS)
    with tempfile.TemporaryDirectory(prefix="tuneforge-es-") as folder:
        result = optimize(
            objective,
            tuneforge_space(max_epochs, strategy in ("hyperband", "bohb")),
            max_trials=1_000_000,
            max_failures=1,  # the trial that hits the budget fails and ends the run
            seed=seed,
            output_dir=folder if checkpoints else None,
            **options,
        )
    failed = [t for t in result.trials if t.state.value == "failed"]
    if any("Exhausted" not in (t.reason or "") for t in failed):
        raise RuntimeError(f"{method}: a trial failed: {failed[0].reason}")


# -- Optuna ---------------------------------------------------------------------------------


def run_optuna(method: str, seed: int, ledger: Ledger) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    max_epochs = ledger.max_epochs
    pruner: optuna.pruners.BasePruner
    if "MedianPruner" in method:
        pruner = optuna.pruners.MedianPruner()
    elif "SuccessiveHalving" in method:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    else:
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_epochs, reduction_factor=3
        )
    sampler: optuna.samplers.BaseSampler
    if "TPE" in method:
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)

    def objective(trial: optuna.Trial) -> float:
        ledger.n_trials += 1
        params: dict[str, Any] = {
            "lr": trial.suggest_float("lr", 1e-4, 0.5, log=True),
            "batch_size": trial.suggest_int("batch_size", 16, 256, log=True),
            "optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"]),
            "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            "hidden": trial.suggest_int("hidden", 8, 128, log=True),
        }
        if params["optimizer"] == "sgd":
            params["momentum"] = trial.suggest_float("momentum", 0.5, 0.99)
        pruned = False

        def after_epoch(epoch: int, error: float) -> bool:
            nonlocal pruned
            trial.report(error, epoch)
            pruned = trial.should_prune()
            return pruned

        try:
            error = train(params, max_epochs, ledger, after_epoch)
        except Exhausted:
            study.stop()  # ends the run after this trial
            raise optuna.TrialPruned() from None
        if pruned:
            raise optuna.TrialPruned()
        return error

    study.optimize(objective, n_trials=1_000_000)


# -- runs and summary -----------------------------------------------------------------------


@dataclass
class Run:
    method: str
    seed: int
    budget: int
    spent: int
    n_trials: int
    found: list[tuple[int, float]]
    seconds: float


def run_one(method: str, seed: int, budget: int, max_epochs: int, objective: str = "error") -> Run:
    ledger = Ledger(budget=budget, max_epochs=max_epochs, objective=objective)
    start = time.time()
    if method in TUNEFORGE_METHODS:
        run_tuneforge(method, seed, ledger)
    else:
        run_optuna(method, seed, ledger)
    return Run(
        method, seed, budget, ledger.spent, ledger.n_trials, ledger.found, time.time() - start
    )


def best_at(run: Run, compute: float) -> float:
    values = [error for spent, error in run.found if spent <= compute]
    return min(values) if values else math.inf


def compute_to_reach(run: Run, target: float) -> float:
    """Epochs spent when the run first trained a configuration as good as ``target``."""
    for spent, error in sorted(run.found):
        if error <= target + 1e-12:
            return float(spent)
    return math.inf


def summarize(runs: Sequence[Run], budget: int, objective: str = "error") -> str:
    seeds = sorted({r.seed for r in runs})
    by = {(r.method, r.seed): r for r in runs}
    targets = {s: best_at(by[("random", s)], budget) for s in seeds if ("random", s) in by}
    what = "val. error" if objective == "error" else "val. log-loss"
    lines = [
        "| method | compute to reach random search's final best (median, x budget) "
        f"| seeds that reach it | best {what} at 1/5 budget | best {what} at full "
        "budget | trials per run |",
        "|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        mine = [by[(method, s)] for s in seeds if (method, s) in by and s in targets]
        if not mine:
            continue
        fractions = [compute_to_reach(r, targets[r.seed]) / budget for r in mine]
        reached = sum(1 for f in fractions if math.isfinite(f))
        median = statistics.median(fractions)
        shown = f"{median:.2f}" if math.isfinite(median) else "not reached"
        fifth = [best_at(r, budget / 5) for r in mine]
        full = [best_at(r, budget) for r in mine]
        lines.append(
            f"| {method} | {shown} | {reached}/{len(mine)} | {_errors(fifth, objective)} | "
            f"{_errors(full, objective)} | {statistics.mean(r.n_trials for r in mine):.0f} |"
        )
    return "\n".join(lines)


def per_seed(runs: Sequence[Run], budget: int) -> str:
    """Compute to reach random search's final best, per method and seed (— : never)."""
    seeds = sorted({r.seed for r in runs})
    by = {(r.method, r.seed): r for r in runs}
    targets = {s: best_at(by[("random", s)], budget) for s in seeds if ("random", s) in by}
    lines = [
        "| method | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for method in METHODS:
        if not any((method, s) in by for s in seeds):
            continue
        cells = []
        for s in seeds:
            if (method, s) not in by or s not in targets:
                cells.append("")
                continue
            compute = compute_to_reach(by[(method, s)], targets[s]) / budget
            cells.append(f"{compute:.2f}" if math.isfinite(compute) else "—")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _errors(values: list[float], objective: str) -> str:
    """Mean and standard deviation (error rates in percent); runs that found nothing yet
    are counted apart."""
    scale, unit = (100.0, "%") if objective == "error" else (1.0, "")
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        missing = len(values) - len(finite)
        if not finite:
            return f"none found ({missing} runs)"
        return f"{scale * statistics.mean(finite):.3f}{unit} ({missing} runs found none)"
    spread = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return f"{scale * statistics.mean(finite):.3f}{unit} ± {scale * spread:.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="the seeds are first-seed .. first-seed+N-1"
    )
    parser.add_argument("--max-epochs", type=int, default=81, help="the full training length")
    parser.add_argument(
        "--budget-trials", type=int, default=40, help="budget, in full trainings per run"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--output", help="write every run (JSON) to this file")
    parser.add_argument(
        "--objective",
        choices=("error", "logloss"),
        default="error",
        help="validation error rate (default) or validation cross-entropy",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny smoke-test version")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="only print the table of runs saved with --output (several files are merged)",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        saved: list[Run] = []
        budgets: set[int] = set()
        objectives: set[str] = set()
        for path in args.summarize:
            with open(path, encoding="utf-8") as file:
                document = json.load(file)
            budgets.add(document["budget"])
            objectives.add(document.get("objective", "error"))
            saved.extend(
                Run(**{**r, "found": [tuple(f) for f in r["found"]]}) for r in document["runs"]
            )
        if len(budgets) != 1 or len(objectives) != 1:
            parser.error(f"the files mix budgets {sorted(budgets)} or objectives {objectives}")
        budget = budgets.pop()
        print(summarize(saved, budget, objectives.pop()))
        print()
        print(per_seed(saved, budget))
        return
    if args.quick:
        args.seeds, args.max_epochs, args.budget_trials = 2, 27, 6
    budget = args.budget_trials * args.max_epochs
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(m, s) for s in seeds for m in args.methods]
    print(
        f"{len(tasks)} runs: {len(args.methods)} methods x {args.seeds} seeds "
        f"({seeds.start}..{seeds.stop - 1}), budget "
        f"{budget} epochs each ({args.budget_trials} x {args.max_epochs}), {args.jobs} at once",
        flush=True,
    )
    started = time.time()
    runs: list[Run] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_one, m, s, budget, args.max_epochs, args.objective) for m, s in tasks
        ]
        for future in as_completed(futures):
            run = future.result()
            runs.append(run)
            best = best_at(run, budget)
            print(
                f"  {run.method:42s} seed {run.seed}: {run.n_trials:5d} trials, "
                f"{len(run.found):3d} full, best {best:.4f}, {run.seconds:6.1f}s",
                flush=True,
            )
    print(f"\n{time.time() - started:.0f}s in all\n")
    print(summarize(runs, budget, args.objective))
    print()
    print(per_seed(runs, budget))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "budget": budget,
                    "objective": args.objective,
                    "max_epochs": args.max_epochs,
                    "runs": [asdict(r) for r in runs],
                },
                out,
                indent=1,
            )


if __name__ == "__main__":
    main()
