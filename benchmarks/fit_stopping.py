"""Fit stopping rules: where the floor and plateau rules stop a spread of fits, against running them to the cap.

    python benchmarks/fit_stopping.py              # 82 fits (70 matrix, 12 regression), cap 3,000 steps
    python benchmarks/fit_stopping.py --cap 1000   # the page's default step cap
    python benchmarks/fit_stopping.py --grid       # also: other smoothing / threshold / patience values
    python benchmarks/fit_stopping.py --quick      # 6 small fits: checks the script runs

Each fit trains to the step cap with converge=False and records its whole loss curve. A stopping rule only
truncates that curve (it never changes a step before it), so feeding the curve to
lora_core.fit_trainer.Convergence, the class the trainer uses, tells where the rules would have stopped the
same fit and what it would have given up: the loss at the stop against the floor and against the best loss
of the whole run. This is the measurement behind FLOOR_TOLERANCE, ZERO_LOSS and the PLATEAU_* constants
(docs/fit.md "Stopping"). Not a timing: figures are steps and losses, the same on any machine.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lora_core.fit import FitSettings, run_matrix, run_regression
from lora_core.fit_trainer import STOP_FLOOR, STOP_PLATEAU, STOP_STEPS, Convergence

SIDES = ((16, 12), (64, 48), (64, 48), (128, 96), (200, 150))  # the default 64 x 48 drawn twice as often
GIVE_UP = 0.01  # a plateau stop that leaves more than 1 % of loss on the table counts as premature


def fits(n_matrix: int, n_regression: int, cap: int, seed: int = 0):
    """(description, floor, losses) of fits with random settings, run to the cap without stopping early."""
    rng = random.Random(seed)
    for i in range(n_matrix):
        rows, cols = rng.choice(SIDES)
        k = min(rng.choice((2, 3, 8, 16)), rows, cols)
        r = rng.choice((1, 2, 4, 8, 16))
        profile = rng.choice(("flat", "linear", "geometric"))
        noise = rng.choice((0.0, 0.05, 0.3))
        lr = rng.choice((0.005, 0.02, 0.02, 0.05, 0.1))
        alpha = rng.choice((8.0, float(r), 1.0, 8.0))
        settings = FitSettings(r=r, alpha=alpha, lr=lr, steps=cap, seed=i, converge=False)
        res = run_matrix(rows, cols, k, settings, profile=profile, noise=noise)
        desc = f"matrix {rows}x{cols} k={k} {profile} noise={noise} r={r} alpha={alpha:g} lr={lr}"
        yield desc, res.optimal_loss, res.losses
    for i in range(n_regression):
        n, d = rng.choice(((400, 21), (2000, 101), (1000, 51)))
        r = rng.choice((1, 2, 4))
        shift = rng.choice(("ones", "lowrank"))
        lr = rng.choice((0.02, 0.05, 0.005))
        shift_rank = rng.choice((1, 3))
        settings = FitSettings(r=r, lr=lr, steps=cap, seed=i, converge=False)
        res = run_regression(n, d, d - 1, settings, shift=shift, shift_rank=shift_rank)
        desc = f"regression n={n} {d}x{d - 1} {shift}(k={shift_rank}) r={r} lr={lr}"
        yield desc, res.optimal_loss, res.losses


def where_it_stops(floor: float, losses: tuple[float, ...], **plateau) -> tuple[int, str]:
    rules = Convergence(floor, **plateau)
    for step, loss in enumerate(losses):
        reason = rules.check(step, loss)
        if reason is not None:
            return step, reason
    return len(losses) - 1, STOP_STEPS


def gave_up_too_much(floor: float, losses: tuple[float, ...], step: int, reason: str) -> bool:
    """A plateau stop that left more than GIVE_UP of the loss on the table (and not at a floor of ~0)."""
    loss = losses[step]
    return reason == STOP_PLATEAU and loss > (1 + GIVE_UP) * min(losses) and loss - floor > 1e-6 * losses[0]


def grid(curves) -> None:
    """Premature plateau stops and mean stop step for other values of the plateau constants."""
    print("smoothing threshold patience  premature  mean stop step")
    for smoothing, threshold, patience in itertools.product(
        (0.9, 0.98), (1e-4, 1e-3, 1e-2), (25, 50, 100, 200)
    ):
        kw = {"smoothing": smoothing, "threshold": threshold, "patience": patience}
        stops = [(floor, losses, *where_it_stops(floor, losses, **kw)) for floor, losses in curves]
        bad = sum(gave_up_too_much(*stop) for stop in stops)
        mean = sum(stop[2] for stop in stops) / len(stops)
        print(f"{smoothing:9.2f} {threshold:9g} {patience:8d} {bad:10d} {mean:15.0f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cap", type=int, default=3000, help="step cap of every fit (the lr schedule spans it)")
    p.add_argument("--grid", action="store_true", help="also try other plateau constants on the same curves")
    p.add_argument("--quick", action="store_true", help="6 small fits, to check the script runs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    n_matrix, n_regression = (4, 2) if args.quick else (70, 12)
    counts = {STOP_FLOOR: 0, STOP_PLATEAU: 0, STOP_STEPS: 0}
    steps, premature, worst_plateau = [], [], 0.0
    print(f"{n_matrix + n_regression} fits, cap {args.cap} steps (lr schedule over the cap), 1 thread")
    curves = []
    for desc, floor, losses in fits(n_matrix, n_regression, args.cap):
        curves.append((floor, losses))
        step, reason = where_it_stops(floor, losses)
        counts[reason] += 1
        steps.append(step)
        best = min(losses)
        given_up = losses[step] / best - 1  # loss left on the table against running to the cap
        zero = floor <= 1e-12 * losses[0]  # float rounding of a rank-r target: the floor is 0
        above = "floor ~ 0" if zero else f"{losses[step] / floor - 1:.3%} above the floor"
        if reason == STOP_PLATEAU:
            worst_plateau = max(worst_plateau, given_up)
            if gave_up_too_much(floor, losses, step, reason):
                premature.append(desc)
        if reason != STOP_FLOOR:
            print(f"  {reason:8s} at {step:5d}: {desc}; {above}, {given_up:.3%} above the run's best")
    print(f"stopped by: {counts}; mean stop step {sum(steps) / len(steps):.0f} of {args.cap}")
    print(f"plateau stops: worst loss given up against the run's best {worst_plateau:.3%}")
    print(f"premature plateau stops (> {GIVE_UP:.0%} given up): {len(premature)}")
    for desc in premature:
        print(f"  {desc}")
    if args.grid:
        grid(curves)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
