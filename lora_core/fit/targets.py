"""Matrix-mode targets for the live fit: a generated low-rank ΔW, and the Eckart–Young floor of any target.

The floor is the best loss any rank-r matrix can reach: by the Eckart–Young–Mirsky theorem
(Eckart & Young 1936) the closest rank-r matrix to T in the Frobenius norm is its truncated SVD, so

    min over rank-r D of ||T - D||_F^2 = sum_{i > r} sigma_i(T)^2.

Divided by rows * cols it is the floor of the fit loss ||T - (alpha/r) B A||_F^2 / (rows * cols).
An uploaded target is parsed by lora_core.fit.uploads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lora_core.fit.settings import (
    DEFAULT_COLS,
    DEFAULT_NOISE,
    DEFAULT_PROFILE,
    DEFAULT_ROWS,
    DEFAULT_TRUE_RANK,
)
from lora_core.validate import choice, positive_float, positive_int

# Cap for a shared classroom server (issue 4): one target side at most 2048 (a regression's d_in and d_out too).
MAX_SIDE = 2048
# Noise std per entry, the signal's entries having RMS 1: up to 100 x the signal.
MAX_NOISE = 100.0

# How the true singular values fall off: flat (all equal), linear (k, k-1, ..., 1), geometric (halving).
PROFILES = ("flat", "linear", "geometric")


def singular_profile(true_rank: int, profile: str) -> torch.Tensor:
    """The shape of the k nonzero singular values, largest first, before scaling. # (k,)"""
    k = true_rank
    if profile == "flat":
        return torch.ones(k, dtype=torch.float64)
    if profile == "linear":
        return torch.arange(k, 0, -1, dtype=torch.float64)
    return 0.5 ** torch.arange(k, dtype=torch.float64)  # geometric: each half the one before


def make_lowrank(
    rows: int, cols: int, true_rank: int, profile: str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A rows x cols matrix U diag(sigma) V^T of rank k whose entries have mean square 1.

    sum sigma_i^2 = ||T||_F^2 = rows * cols, so an entry's root mean square is 1 whatever the shape
    and the noise sigma of `make_target` reads as a noise-to-signal ratio. Returns (T, sigma).
    """
    k = true_rank
    u, _ = torch.linalg.qr(torch.randn(rows, k, generator=generator, dtype=torch.float64))  # (rows, k)
    v, _ = torch.linalg.qr(torch.randn(cols, k, generator=generator, dtype=torch.float64))  # (cols, k)
    sigma = singular_profile(k, profile)
    sigma = sigma * math.sqrt(rows * cols) / torch.linalg.vector_norm(sigma)  # (k,)
    return (u * sigma) @ v.T, sigma  # (rows, cols), (k,)


def make_target(
    rows: int, cols: int, true_rank: int, profile: str = "geometric", noise: float = 0.0, seed: int = 0
) -> torch.Tensor:
    """A generated target ΔW: rank-k signal (entries of RMS 1) plus Gaussian noise of std `noise`. float32."""
    rows = positive_int("rows", rows, maximum=MAX_SIDE)
    cols = positive_int("cols", cols, maximum=MAX_SIDE)
    true_rank = positive_int("true rank k", true_rank, maximum=min(rows, cols))
    profile = choice("profile", profile, PROFILES)
    noise = positive_float("noise", noise, maximum=MAX_NOISE, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    signal, _ = make_lowrank(rows, cols, true_rank, profile, g)
    if noise > 0:
        signal = signal + noise * torch.randn(rows, cols, generator=g, dtype=torch.float64)
    return signal.to(torch.float32)


def singular_values(t: torch.Tensor) -> torch.Tensor:
    """All singular values of a matrix, largest first, in float64. # (min(rows, cols),)"""
    return torch.linalg.svdvals(t.to(torch.float64))


def eckart_young_floor(sigma: torch.Tensor, r: int, entries: int) -> float:
    """Best rank-r loss: sum of sigma_i^2 beyond r, per entry (Eckart–Young)."""
    return float((sigma[r:].to(torch.float64) ** 2).sum()) / entries


@dataclass(frozen=True)
class TargetSettings:
    """A generated matrix-mode target, as `make_target` takes it. Checked by `check()` (a FitTask calls it),
    so that a page can hold one while its widgets are being edited."""

    rows: int = DEFAULT_ROWS  # rows of ΔW (out_features)
    cols: int = DEFAULT_COLS  # cols of ΔW (in_features)
    true_rank: int = DEFAULT_TRUE_RANK  # rank k of the signal
    profile: str = DEFAULT_PROFILE  # how its singular values fall off, one of PROFILES
    noise: float = DEFAULT_NOISE  # noise std per entry; the signal's entries have RMS 1

    def check(self) -> None:
        rows = positive_int("rows", self.rows, maximum=MAX_SIDE)
        cols = positive_int("cols", self.cols, maximum=MAX_SIDE)
        positive_int("true rank k", self.true_rank, maximum=min(rows, cols))
        choice("profile", self.profile, PROFILES)
        positive_float("noise", self.noise, maximum=MAX_NOISE, allow_zero=True)

    def make(self, seed: int) -> torch.Tensor:
        """The target. # (rows, cols) float32"""
        return make_target(self.rows, self.cols, self.true_rank, self.profile, self.noise, seed)
