"""The race's measurements (issue 15 §4; docs/fit.md "Race"): what each variant does on our targets.

    python benchmarks/fit_race.py                 # everything (about a minute on the shared 2-core machine)
    python benchmarks/fit_race.py --json out.json
    python benchmarks/fit_race.py --quick         # fewer seeds and ranks: checks the script runs

Steps and losses are the same on any machine (seeded, one thread); only the timing section depends on the
machine and its load, and it reports the race as a ratio to one default fit timed in the same process.

1. rsLoRA (Kalajdzievski 2023): default target (64 x 48, k = 8 halving, noise 0.05), alpha 8, lr 0.02; for
   r = 1 ... 256 and both scalings, the loss after 30, 50 and 100 Adam steps (the cosine decay over that
   budget, no convergence stop) and the steps to reach loss 0.07 (just above the rank-2 floor, so every
   r >= 2 can reach it; cap 1,000).
2. Why (Adam): the first step of B and of ΔŴ = s B A at each r, under both scalings. Adam's first step is
   lr * sign(g) whatever s is, so B moves the same; ΔŴ moves s times as far.
3. LoRA+ (Hayou et al. 2024): steps to the floor on the default target for λ = 1 ... 64, seeds 0-2, at lr
   0.02 (the default) and 0.005.
4. PiSSA and OLoRA against the Gaussian init: regression, n 2,000, 101 x 100, r = k, three shifts (ones,
   random low rank, theta's principal part), seeds 0-2: the loss after 10 steps, steps, final loss, and the
   best loss each can reach.
5. VeRA: its final loss at its rank r_v against LoRA's at r (default target r = 4, and a 16 x 12 target
   r = 1), with the values each trains; the smallest r_v that matches LoRA, if any up to 256.
6. Timing: the default race (LoRA, rsLoRA, LoRA+ λ 16, VeRA) in this process, against one default fit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lora_core.fit import (
    FitSettings,
    RaceSettings,
    fit_matrix,
    make_target,
    race_sweep,
    run_race,
)
from lora_core.fit.adapters import make_adapter
from lora_core.fit.regression import make_regression_data
from lora_core.fit.trainer import Training

RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
THRESHOLD = 0.07  # just above the default target's rank-2 floor (0.0641): every r >= 2 can reach it


def default_target() -> torch.Tensor:
    return make_target(64, 48, 8, "geometric", 0.05, seed=0)


def rslora(ranks, budgets=(30, 50, 100)) -> list[dict]:
    target = default_target()
    rows = []
    for r in ranks:
        row = {"r": r}
        for rule in ("standard", "rslora"):
            code = "lora" if rule == "standard" else "rslora"
            for n in budgets:
                [point] = race_sweep(target, FitSettings(), RaceSettings((code,)), ranks=(r,), steps=n)
                row[f"{rule}_after_{n}"] = point.loss
                row["floor"] = point.floor
            reach = fit_matrix(
                target, FitSettings(r=r, scaling_rule=rule, target_loss=THRESHOLD, converge=False)
            )
            row[f"{rule}_steps_to_{THRESHOLD}"] = reach.steps if reach.stop_reason == "target" else None
        rows.append(row)
    return rows


def first_step(ranks) -> list[dict]:
    target = default_target()
    rows = []
    for r in ranks:
        row = {"r": r}
        for rule in ("standard", "rslora"):
            adapter = make_adapter(
                FitSettings(r=r, scaling_rule=rule), 64, 48, torch.Generator().manual_seed(0)
            )
            s = adapter.scaling
            a0, b0 = (p.detach().clone() for p in adapter.params)
            run = Training(
                lambda a, b, s=s: ((target - s * (b @ a)) ** 2).mean(), adapter.params, steps=100, lr=0.02
            )
            run.advance()
            a1, b1 = (p.detach() for p in adapter.params)
            row[f"{rule}_s"] = s
            row[f"{rule}_B_step"] = float((b1 - b0).norm())
            row[f"{rule}_dW_step"] = float((s * (b1 @ a1) - s * (b0 @ a0)).norm())
        rows.append(row)
    return rows


def lora_plus(seeds) -> list[dict]:
    rows = []
    for lr in (0.02, 0.005):
        for lam in (1, 2, 4, 8, 16, 32, 64):
            res = [fit_matrix(default_target(), FitSettings(lr=lr, lr_ratio=lam, seed=s)) for s in seeds]
            rows.append(
                {
                    "lr": lr,
                    "lr_ratio": lam,
                    "steps": [x.steps for x in res],
                    "stop": [x.stop_reason for x in res],
                    "gap_pct": [round(100 * x.gap_to_floor, 3) for x in res],
                }
            )
    return rows


def base_inits(seeds) -> list[dict]:
    rows = []
    for shift, k in (("ones", 1), ("lowrank", 4), ("principal", 4)):
        for seed in seeds:
            data = make_regression_data(2000, 101, 100, shift, k, seed)
            res = run_race(data, FitSettings(r=k, seed=seed), RaceSettings(("lora", "pissa", "olora")))
            for lane in res.lanes:
                rows.append(
                    {
                        "shift": shift,
                        "k": k,
                        "seed": seed,
                        "variant": lane.variant,
                        "loss_at_10": lane.losses[min(10, len(lane.losses) - 1)],
                        "start": lane.losses[0],
                        "steps": lane.steps,
                        "stop": lane.stop_reason,
                        "final": lane.final_loss,
                        "reachable": lane.reachable_floor,
                        "floor": res.floor,
                    }
                )
    return rows


def vera(vera_ranks) -> list[dict]:
    rows = []
    for name, target, r in (
        ("default 64x48 k8", default_target(), 4),
        ("16x12 k2 noise 0.05", make_target(16, 12, 2, "geometric", 0.05, seed=0), 1),
    ):
        lora = fit_matrix(target, FitSettings(r=r))
        match = None
        for rv in vera_ranks:
            res = fit_matrix(target, FitSettings(r=rv, adapter="vera"))
            rows.append(
                {
                    "target": name,
                    "lora_r": r,
                    "lora_final": lora.final_loss,
                    "lora_values": lora.trainable_params,
                    "floor_r": lora.optimal_loss,
                    "vera_r": rv,
                    "vera_final": res.final_loss,
                    "vera_values": res.trainable_params,
                    "vera_steps": res.steps,
                    "vera_stop": res.stop_reason,
                    "gap_to_floor_pct": 100 * (res.final_loss / lora.optimal_loss - 1),
                }
            )
            if match is None and res.final_loss <= lora.final_loss:
                match = rv
        rows.append({"target": name, "smallest_vera_r_matching_lora": match})
    return rows


def timing(repeats: int) -> dict:
    target = default_target()
    fit_s, race_s = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fit_matrix(target, FitSettings())
        fit_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = run_race(target, FitSettings(), RaceSettings())
        race_s.append(time.perf_counter() - t)
    return {
        "fit_s_median": statistics.median(fit_s),
        "race_s_median": statistics.median(race_s),
        "race_s_max": max(race_s),
        "ratio": statistics.median(race_s) / statistics.median(fit_s),
        "race_steps": {lane.variant: lane.steps for lane in res.lanes},
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = (0,) if args.quick else (0, 1, 2)
    ranks = (1, 2, 16) if args.quick else RANKS
    out = {"load_start": os.getloadavg()}
    out["rslora"] = rslora(ranks)
    print(
        f"{'r':>4} {'floor':>9} | α/r after 30/50/100 | α/√r after 30/50/100 | steps to {THRESHOLD}: α/r α/√r"
    )
    for row in out["rslora"]:
        std = " ".join(f"{row[f'standard_after_{n}']:.3g}" for n in (30, 50, 100))
        rs = " ".join(f"{row[f'rslora_after_{n}']:.3g}" for n in (30, 50, 100))
        print(
            f"{row['r']:>4} {row['floor']:>9.3g} | {std:>19} | {rs:>20} | "
            f"{row[f'standard_steps_to_{THRESHOLD}']} {row[f'rslora_steps_to_{THRESHOLD}']}"
        )
    out["first_step"] = first_step(ranks)
    for row in out["first_step"]:
        print(
            f"r {row['r']:>4}: s {row['standard_s']:.4g} / {row['rslora_s']:.4g}; |ΔB| {row['standard_B_step']:.4g} / "
            f"{row['rslora_B_step']:.4g}; |ΔW| {row['standard_dW_step']:.4g} / {row['rslora_dW_step']:.4g}"
        )
    out["lora_plus"] = lora_plus(seeds)
    for row in out["lora_plus"]:
        print(
            f"LoRA+ lr {row['lr']} λ {row['lr_ratio']:>2}: steps {row['steps']} {row['stop']} gap % {row['gap_pct']}"
        )
    out["base_inits"] = base_inits(seeds)
    for row in out["base_inits"]:
        reach = "-" if row["reachable"] is None else f"{row['reachable']:.3g}"
        print(
            f"{row['shift']:>9} k{row['k']} seed {row['seed']} {row['variant']:>6}: loss@10 {row['loss_at_10']:.3g} "
            f"steps {row['steps']} {row['stop']} final {row['final']:.3g} reachable {reach}"
        )
    out["vera"] = vera((1, 4, 16, 64) if args.quick else (1, 4, 16, 64, 128, 256))
    for row in out["vera"]:
        print(row)
    out["timing"] = timing(3 if args.quick else 7)
    print(out["timing"])
    out["load_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
