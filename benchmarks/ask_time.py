"""Ask time: how long one ``ask`` takes after 100, 300 and 1000 completed trials.

On a 6-parameter mixed space (log float, float, int, log int, two categoricals), each
strategy is told ``n`` completed trials of random configurations, then asked ``--asks``
times, each ask followed by the tell of its (synthetic) result, as in a real job. The
table gives the median wall-clock time of those asks (with the median CPU time of the
process in brackets: on a busy machine it is the better guide to an idle one's wall time)
and the maximum, in milliseconds, and for ``auto`` the model it used. Optuna's samplers
are timed through tuneforge's ``optuna:<Sampler>`` adapter (GPSampler only when torch is installed).

Usage::

    python benchmarks/ask_time.py                       # every strategy, n = 100 300 1000
    python benchmarks/ask_time.py --strategies auto --sizes 1000 --asks 20
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from tuneforge.space import Categorical, Float, Int, SearchSpace  # noqa: E402
from tuneforge.strategies import make_strategy  # noqa: E402
from tuneforge.trial import Trial, TrialState  # noqa: E402

SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 1.0, log=True),
        "dropout": Float(0.0, 0.8),
        "depth": Int(1, 10),
        "width": Int(8, 1024, log=True),
        "optimizer": Categorical(["sgd", "adam", "rmsprop", "adagrad"]),
        "activation": Categorical(["relu", "tanh"]),
    }
)
STRATEGIES = ("auto", "bayesian", "forest", "random", "optuna:TPESampler", "optuna:GPSampler")


def loss(p: Mapping[str, Any]) -> float:
    offset = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.5}[str(p["optimizer"])]
    return (
        offset
        + 0.5 * (math.log10(p["lr"]) + 3) ** 2
        + 0.05 * (p["depth"] - 4) ** 2
        + 0.1 * (math.log2(p["width"]) - 7) ** 2
        + (p["dropout"] - 0.2) ** 2
        + (0.1 if p["activation"] == "tanh" else 0.0)
    )


def time_asks(name: str, n: int, asks: int, seed: int = 0) -> tuple[list[float], list[float], str]:
    strategy = make_strategy(name, SPACE, seed=seed)
    rng = np.random.default_rng(seed)
    history = [
        Trial(i, config, TrialState.COMPLETED, value=loss(config))
        for i, config in ((i, SPACE.sample(rng)) for i in range(n))
    ]
    for trial in history:
        strategy.tell(trial)
    times, cpu = [], []
    for k in range(asks):
        start, start_cpu = time.perf_counter(), time.process_time()
        config = strategy.ask()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert config is not None
        strategy.tell(Trial(n + k, config, TrialState.COMPLETED, value=loss(config)))
    return times, cpu, str(getattr(strategy, "choice", ""))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--sizes", nargs="*", type=int, default=[100, 300, 1000])
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args(argv)
    names = list(args.strategies)
    if "optuna:GPSampler" in names and importlib.util.find_spec("torch") is None:
        print("note: torch is not installed, so optuna:GPSampler is skipped.")
        names.remove("optuna:GPSampler")
    print(f"load average before: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)\n")
    print("| strategy | " + " | ".join(f"n={n}: median (CPU) / max ms" for n in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for name in names:
        cells = []
        for n in args.sizes:
            times, cpu, choice = time_asks(name, n, args.asks)
            ms, cpu_ms = np.array(times) * 1000, np.array(cpu) * 1000
            note = f" {choice}" if choice else ""
            cells.append(f"{np.median(ms):.0f} ({np.median(cpu_ms):.0f}) / {ms.max():.0f}{note}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
