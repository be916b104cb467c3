"""The race (issue 15 §4): several LoRA variants trained on the same target at once, against one floor.

A race is one fit's target (or regression data) and settings, and a few variants (VARIANTS):
- "lora": plain LoRA, scale alpha / r, A random and B = 0 (the fit as it always was);
- "rslora": scale alpha / sqrt(r) (Kalajdzievski 2023);
- "lora_plus": B's learning rate λ times A's (Hayou et al. 2024), λ = RaceSettings.lr_ratio;
- "pissa", "olora": A and B start from the base weight (Meng et al. 2024; Büyükakyüz 2024), regression
  mode only: matrix mode has no base;
- "vera": frozen random A and B, two trained vectors (Kopiczko et al. 2024), at rank RaceSettings.vera_r.
lora_core.fit.adapters says how each trains. Every variant shares the data, the seed (so "lora", "rslora"
and "lora_plus" start from the same A), the rank r, alpha, lr, step cap and stopping rules; only what the
variant changes differs. The floor is the task's rank-r floor, the same line for all.

The variants train in lockstep, one Adam step each in turn, so their loss curves grow side by side; each
stops by its own rules (a variant that cannot reach the floor stops on its plateau). The race ends when
every variant has stopped, or at the settings' time cap (max_seconds, for the whole race), or on
should_stop(). So a race costs at most len(variants) x steps Adam steps and max_seconds of one core,
like one fit: the server runs it as one job in one fit slot (lora_ui.workers.fit).

`race_sweep` is the race by rank: each variant at each rank of SWEEP_RANKS for a short budget of
SWEEP_STEPS steps, to show how the pace of learning changes with r (rsLoRA's claim: with alpha / r a
higher rank learns no faster; with alpha / sqrt(r) it does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from lora_core.errors import LoraLabError
from lora_core.fit.matrix import prepare_matrix
from lora_core.fit.regression import RegressionData, WhitenedProblem, prepare_regression
from lora_core.fit.results import PreparedFit
from lora_core.fit.settings import MAX_LR_RATIO, MAX_RANK, FitSettings
from lora_core.fit.targets import eckart_young_floor, singular_values
from lora_core.fit.trainer import STOP_CANCELLED, STOP_TIME, StopFlag
from lora_core.validate import positive_float, positive_int

VARIANTS = ("lora", "rslora", "lora_plus", "pissa", "olora", "vera")
# Their names as the papers write them: the same in every language (the page's options, chart legends)
VARIANT_NAMES = {
    "lora": "LoRA",
    "rslora": "rsLoRA",
    "lora_plus": "LoRA+",
    "pissa": "PiSSA",
    "olora": "OLoRA",
    "vera": "VeRA",
}
BASE_VARIANTS = ("pissa", "olora")  # start from the base weight: regression mode only
DEFAULT_VARIANTS = ("lora", "rslora", "lora_plus", "vera")  # the page's default race, matrix mode
# LoRA+'s λ by default: 2^4. The LoRA+ authors' README asks for λ >= 1, larger for harder tasks; axolotl's
# config docs give 2^4 as the recommended value. On the default target λ = 8-16 reached the floor in
# 118-153 steps against 181-206 for λ = 1 (seeds 0-2, lr 0.02; docs/fit.md "Race").
DEFAULT_LR_RATIO = 16.0
# The race by rank: ranks doubling up to MAX_RANK, each variant trained SWEEP_STEPS steps (the cosine decay
# over that budget). 50 steps: the pace shows, and the whole sweep stays a few seconds (docs/fit.md "Race").
SWEEP_RANKS = tuple(1 << i for i in range(MAX_RANK.bit_length()))  # 1, 2, 4, ..., 256
SWEEP_STEPS = 50


@dataclass(frozen=True)
class RaceSettings:
    """Which variants race, and the two settings that only they have. Checked by `check()` (a FitTask calls it)."""

    variants: tuple[str, ...] = DEFAULT_VARIANTS  # codes from VARIANTS, in the order the chart lists them
    lr_ratio: float = DEFAULT_LR_RATIO  # λ of "lora_plus"
    vera_r: int | None = None  # the rank of "vera" (None: the race's r)

    def check(self, regression: bool) -> None:
        if not self.variants:
            raise LoraLabError("fit.race.none")
        for code in self.variants:
            if code not in VARIANTS:
                raise LoraLabError("fit.race.variant", choices=VARIANTS, value=code)
        if len(set(self.variants)) != len(self.variants):
            raise LoraLabError("fit.race.twice")
        if not regression and (base := [c for c in self.variants if c in BASE_VARIANTS]):
            raise LoraLabError("fit.race.needs_base", names=tuple(VARIANT_NAMES[c] for c in base))
        positive_float("learning-rate ratio", self.lr_ratio, maximum=MAX_LR_RATIO)
        if self.vera_r is not None:
            positive_int("VeRA rank", self.vera_r, maximum=MAX_RANK)


def variant_settings(code: str, settings: FitSettings, race: RaceSettings) -> FitSettings:
    """The FitSettings of one variant: the race's settings, plain LoRA, then what `code` changes."""
    plain = replace(settings, scaling_rule="standard", lr_ratio=1.0, init="gaussian", adapter="lora")
    if code == "rslora":
        return replace(plain, scaling_rule="rslora")
    if code == "lora_plus":
        return replace(plain, lr_ratio=race.lr_ratio)
    if code in BASE_VARIANTS:
        return replace(plain, init=code)
    if code == "vera":
        return replace(plain, adapter="vera", r=race.vera_r or settings.r)
    return plain


@dataclass(frozen=True)
class RaceLane:
    """One variant's run, as plain values (it crosses a process boundary)."""

    variant: str  # a code from VARIANTS
    r: int  # its rank (VeRA's may differ from the race's)
    final_loss: float  # recomputed after training, as a single fit's is
    reachable_floor: float | None  # the best loss it can reach, if known (lora_core.fit.results.FitResult)
    steps: int
    stop_reason: str
    trainable_params: int  # values Adam trained
    scaling: float  # s in ΔŴ = s B A (VeRA: 1)
    losses: tuple[float, ...]  # the loss before each step, then after the last


@dataclass(frozen=True)
class RaceResult:
    mode: str  # "matrix" or "regression"
    r: int  # the race's rank: the floor's
    floor: float  # the task's rank-r floor (Eckart–Young; X-weighted in regression mode)
    lanes: tuple[RaceLane, ...]  # in the order of RaceSettings.variants
    seconds: float  # wall clock of the whole race

    def gap(self, lane: RaceLane) -> float:
        """(final - floor) / floor; inf when the floor is 0 and the loss is not."""
        if self.floor > 0:
            return (lane.final_loss - self.floor) / self.floor
        return 0.0 if lane.final_loss == 0 else float("inf")

    def lane(self, variant: str) -> RaceLane | None:
        """The lane of `variant`, if it raced."""
        return next((lane for lane in self.lanes if lane.variant == variant), None)

    @staticmethod
    def ratio(lane: RaceLane, other: RaceLane) -> float:
        """lane's final loss in units of other's (inf when other's is 0 and lane's is not)."""
        if other.final_loss > 0:
            return lane.final_loss / other.final_loss
        return 1.0 if lane.final_loss == 0 else float("inf")


# A race's source: a target ΔW (matrix mode) or regression data, as lora_core.fit.task makes them.
Source = torch.Tensor | RegressionData
LaneHook = Callable[[int, int, float], None] | None  # record(lane, step, loss)


def _prepare_all(source: Source, settings: FitSettings, race: RaceSettings) -> list[PreparedFit]:
    """One prepared fit per variant, sharing the expensive parts (the target's SVD, the whitened problem)."""
    regression = isinstance(source, RegressionData)
    race.check(regression)
    if regression:
        problem = WhitenedProblem(source.X, source.y, source.theta)
        return [
            prepare_regression(source, variant_settings(code, settings, race), problem=problem)
            for code in race.variants
        ]
    sigma = singular_values(source)
    return [
        prepare_matrix(source, variant_settings(code, settings, race), sigma=sigma) for code in race.variants
    ]


def run_race(
    source: Source,
    settings: FitSettings,
    race: RaceSettings,
    *,
    record: LaneHook = None,
    on_floor: Callable[[float], None] | None = None,
    should_stop: StopFlag = None,
) -> RaceResult:
    """Train every variant of `race` on `source` in lockstep; `record(lane, step, loss)` after each loss."""
    started = time.perf_counter()
    prepared = _prepare_all(source, settings, race)
    # the task's rank-r floor: any lane at the race's rank has it (only a VeRA lane may have its own rank)
    floor = next((p.floor for p in prepared if p.settings.r == settings.r), None)
    if floor is None:
        floor = rank_floor(source, settings)
    if on_floor is not None:
        on_floor(floor)
    runs = [
        p.training(None if record is None else (lambda step, loss, i=i: record(i, step, loss)))
        for i, p in enumerate(prepared)
    ]
    active = list(range(len(runs)))
    while active:
        if time.perf_counter() - started > settings.max_seconds:  # the race's cap, all variants together
            for i in active:
                runs[i].finish(STOP_TIME)
            break
        active = [i for i in active if runs[i].advance(should_stop) is None]
    lanes = []
    for code, p, run in zip(race.variants, prepared, runs, strict=True):
        res = p.finish(run.outcome())
        lanes.append(
            RaceLane(
                variant=code,
                r=res.r,
                final_loss=res.final_loss,
                reachable_floor=res.reachable_floor,
                steps=res.steps,
                stop_reason=res.stop_reason,
                trainable_params=res.trainable_params,
                scaling=res.scaling,
                losses=res.losses,
            )
        )
    mode = "regression" if isinstance(source, RegressionData) else "matrix"
    return RaceResult(mode, settings.r, floor, tuple(lanes), time.perf_counter() - started)


def rank_floor(source: Source, settings: FitSettings) -> float:
    """The task's rank-r floor, for a race whose only lanes have another rank."""
    if isinstance(source, RegressionData):
        return WhitenedProblem(source.X, source.y, source.theta).floor(settings.r, settings.seed)
    return eckart_young_floor(singular_values(source), settings.r, source.numel())


@dataclass(frozen=True)
class RaceSweepPoint:
    variant: str  # a code from VARIANTS
    r: int  # the rank it trained at (VeRA's too: the sweep sets every variant's rank)
    loss: float  # the loss after SWEEP_STEPS steps
    floor: float  # the rank-r floor


def sweep_ranks_for(source: Source, race: RaceSettings, max_rank: int = MAX_RANK) -> tuple[int, ...]:
    """SWEEP_RANKS up to max_rank; with pissa / olora racing, at most min(d_in, d_out) (they take r of W's
    directions)."""
    if isinstance(source, RegressionData) and any(c in BASE_VARIANTS for c in race.variants):
        max_rank = min(max_rank, *source.theta.shape)
    return tuple(r for r in SWEEP_RANKS if r <= max_rank)


def race_sweep(
    source: Source,
    settings: FitSettings,
    race: RaceSettings,
    *,
    ranks: tuple[int, ...] | None = None,
    steps: int = SWEEP_STEPS,
    should_stop: StopFlag = None,
) -> tuple[RaceSweepPoint, ...]:
    """Each variant at each rank, trained `steps` Adam steps (no convergence stop: every point has the same
    budget); alpha and lr are the race's, so alpha / r and alpha / sqrt(r) agree at r = 1."""
    regression = isinstance(source, RegressionData)
    race.check(regression)
    ranks = sweep_ranks_for(source, race) if ranks is None else ranks
    problem = WhitenedProblem(source.X, source.y, source.theta) if regression else None
    sigma = None if regression else singular_values(source)
    points = []
    for r in ranks:
        for code in race.variants:
            at_r = replace(settings, r=r, steps=steps, converge=False, target_loss=None)
            one = variant_settings(code, at_r, replace(race, vera_r=r))
            if regression:
                prepared = prepare_regression(source, one, problem=problem)
            else:
                prepared = prepare_matrix(source, one, sigma=sigma)
            out = prepared.train(should_stop=should_stop)
            if out.stop_reason == STOP_CANCELLED:
                return tuple(points)
            points.append(RaceSweepPoint(code, r, prepared.finish(out).final_loss, prepared.floor))
    return tuple(points)
