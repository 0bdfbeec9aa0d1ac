"""A target-algorithm wrapper in SMAC's classic style, here evaluating the Branin function.

SMAC (v2) calls a wrapper as::

    branin_wrapper.py <instance> <instance_info> <cutoff_time> <run_length> <seed> -x1 <v> -x2 <v>

and reads one line back::

    Result of this algorithm run: SUCCESS, <runtime>, <run_length>, <quality>, <seed>

tuneforge reads that same line (the quality becomes the job's objective), so wrappers
written for SMAC run unchanged. Branin's minimum is about 0.397887, at (-pi, 12.275),
(pi, 2.275) and (9.42478, 2.475).
"""

from __future__ import annotations

import math
import sys
import time


def branin(x1: float, x2: float) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5.0 / math.pi
    r, s, t = 6.0, 10.0, 1.0 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def parse(argv: list[str]) -> tuple[int, dict[str, float]]:
    """The seed and the ``-name value`` pairs that follow SMAC's five fixed arguments."""
    if len(argv) < 5 or (len(argv) - 5) % 2:
        raise SystemExit(
            "usage: branin_wrapper.py <instance> <instance_info> <cutoff> <run_length> <seed> "
            "-x1 <value> -x2 <value>"
        )
    seed = int(argv[4])
    pairs = argv[5:]
    params = {pairs[i].lstrip("-"): float(pairs[i + 1]) for i in range(0, len(pairs), 2)}
    return seed, params


def main() -> None:
    start = time.perf_counter()
    seed, params = parse(sys.argv[1:])
    try:
        quality = branin(params["x1"], params["x2"])
        status = "SUCCESS"
    except KeyError as missing:
        print(f"missing parameter {missing}", file=sys.stderr)
        quality, status = float("inf"), "CRASHED"
    runtime = time.perf_counter() - start
    print(f"Result of this algorithm run: {status}, {runtime:.6f}, 0, {quality:.6f}, {seed}")


if __name__ == "__main__":
    main()
