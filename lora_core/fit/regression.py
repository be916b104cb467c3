"""Regression mode: the seed article's experiment (002), y = X (theta + ΔW), with the frozen base W = theta.

`run_regression` makes the data (`make_regression_data`) and `fit_regression` trains LoRA on it.

Data. X is (n, d_in) standard normal, theta (d_in, d_out) standard normal, as in the seed's R code
(`torch_randn`). The new task shifts theta by ΔW: all ones (the seed's `thetas + 1`, rank 1) or a random
rank-k shift with the same mean-square entry 1. The LoRA layer is Linear(d_in -> d_out) with lora_A
(r, d_in) and lora_B (d_out, r), so in theta's orientation the learned shift is D = s * A^T B^T
(d_in, d_out) and the model predicts X (W + D). Loss = mean over all n * d_out outputs of the squared error.

Why a step is cheap. With the residual R = y - X W (n, d_out), the loss is
    N * loss = ||X D - R||_F^2,        N = n * d_out.
Write X^T X = G = L L^T (Cholesky) and M = L^{-1} X^T R (d_in, d_out). Then for every D
    ||X D - R||_F^2 = ||L^T D - M||_F^2 + ||R_perp||_F^2,
where R_perp is the part of R outside the columns of X (zero here: y = X (theta + ΔW) exactly, up to
float32 rounding of y). So training only needs L and M, built once: a step costs
O((d_in + d_out) * r * d_in) instead of the seed's O(batch * d_in * d_out) per minibatch, and the loss
is a direct sum of squared residuals (no difference of large quadratic-form terms, so no float32
cancellation). G, X^T R and the Cholesky factor are formed once; L and M in float64.

The floor (X-weighted Eckart–Young). L^T is invertible when X has full column rank (n >= d_in), so
rank(L^T D) = rank(D) and the best rank-r D makes L^T D the truncated SVD of M:
    floor = (sum_{i > r} sigma_i(M)^2 + ||R_perp||^2) / N,    D* = L^{-T} [M]_r.
It is the same as a QR of X = Q L^T: M = Q^T R. docs/fit.md walks through it.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import torch

from lora_core.errors import LoraLabError
from lora_core.fit.adapters import make_adapter
from lora_core.fit.results import FitResult, PreparedFit, build_result
from lora_core.fit.settings import DEFAULT_D_IN, DEFAULT_D_OUT, DEFAULT_REG_R, DEFAULT_SAMPLES, FitSettings
from lora_core.fit.targets import MAX_SIDE, make_lowrank
from lora_core.fit.trainer import Callback, FloorHook, StopFlag, TrainOutcome
from lora_core.validate import choice, positive_int

MAX_SAMPLES = 20_000  # shared-server cap (issue 4)
MAX_FEATURES = MAX_SIDE  # d_in and d_out: the matrix mode's cap on a side
# ΔW: all ones (the seed's), a random rank-k shift, or "principal": theta's own top-k singular part, so the
# new task strengthens the base's main directions: the premise of PiSSA (Meng et al. 2024: the principal
# singular directions of W are where adaptation pays), which a random shift does not share (docs/fit.md "Race")
SHIFTS = ("ones", "lowrank", "principal")
# X^T X in GRAM_BLOCKS block rows, the upper triangle only: 0.10 s against 0.14 s for the full product at
# the seed's size (n 10,000, d_in 1,001, 1 thread; 2, 4 and 8 blocks measured alike; docs/fit.md "Speed").
GRAM_BLOCKS = 4
# Rows per block of the final direct loss: its float64 copy is 512 * d_out * 8 bytes (4 MB at d_out 1,000).
DIRECT_BLOCK = 512


@dataclass(frozen=True)
class RegressionData:
    X: torch.Tensor  # (n, d_in) inputs
    y: torch.Tensor  # (n, d_out) targets of the new task, X (theta + delta)
    theta: torch.Tensor  # (d_in, d_out) the frozen pre-trained weight W
    delta: torch.Tensor  # (d_in, d_out) the true shift ΔW
    delta_sigma: torch.Tensor  # (min(d_in, d_out),) its singular values, float64, largest first


@dataclass(frozen=True)
class RegressionSettings:
    """The regression experiment's data, as `make_regression_data` takes it. Checked by `check()` (a FitTask
    calls it), so that a page can hold one while its widgets are being edited."""

    samples: int = DEFAULT_SAMPLES  # n, rows of X
    d_in: int = DEFAULT_D_IN  # inputs of the layer, rows of theta
    d_out: int = DEFAULT_D_OUT  # outputs of the layer, cols of theta
    shift: str = "ones"  # ΔW: all ones (the seed's), random low rank, or theta's principal part; SHIFTS
    shift_rank: int = 1  # rank k of a "lowrank" or "principal" shift

    def check(self) -> None:
        check_sizes(self.samples, self.d_in, self.d_out)
        choice("shift", self.shift, SHIFTS)

    def make(self, seed: int) -> RegressionData:
        return make_regression_data(self.samples, self.d_in, self.d_out, self.shift, self.shift_rank, seed)


def check_sizes(samples: int, d_in: int, d_out: int) -> tuple[int, int, int]:
    samples = positive_int("samples", samples, maximum=MAX_SAMPLES)
    d_in = positive_int("d_in (rows)", d_in, maximum=MAX_FEATURES)
    d_out = positive_int("d_out (cols)", d_out, maximum=MAX_FEATURES)
    if samples < d_in:
        raise LoraLabError("fit.samples_below_d_in", samples=samples, d_in=d_in)
    return samples, d_in, d_out


def make_regression_data(
    samples: int, d_in: int, d_out: int, shift: str = "ones", shift_rank: int = 1, seed: int = 0
) -> RegressionData:
    """The seed's data: theta, X ~ N(0, 1), y = X (theta + ΔW). float32, deterministic by seed."""
    samples, d_in, d_out = check_sizes(samples, d_in, d_out)
    shift = choice("shift", shift, SHIFTS)
    g = torch.Generator().manual_seed(int(seed))
    theta = torch.randn(d_in, d_out, generator=g)  # (d_in, d_out)  seed: thetas <- torch_randn(d_in, d_out)
    X = torch.randn(samples, d_in, generator=g)  # (n, d_in)        seed: X <- torch_randn(n, d_in)
    sigma = torch.zeros(min(d_in, d_out), dtype=torch.float64)
    if shift == "ones":
        delta = torch.ones(d_in, d_out)  # seed: thetas2 <- thetas + 1
        sigma[0] = math.sqrt(d_in * d_out)  # ones = sqrt(d_in d_out) * (unit u)(unit v)^T
    elif shift == "lowrank":
        k = positive_int("shift rank", shift_rank, maximum=min(d_in, d_out))
        low, s = make_lowrank(d_in, d_out, k, "geometric", g)
        delta = low.to(torch.float32)
        sigma[:k] = s
    else:  # principal: theta's top-k singular part U_k diag(s_k) V_k^T, rescaled to mean-square entry 1
        k = positive_int("shift rank", shift_rank, maximum=min(d_in, d_out))
        u, s, vh = torch.linalg.svd(theta.double(), full_matrices=False)
        s = s[:k] * math.sqrt(d_in * d_out) / torch.linalg.vector_norm(s[:k])  # (k,)
        delta = ((u[:, :k] * s) @ vh[:k]).to(torch.float32)  # (d_in, d_out)
        sigma[:k] = s
    y = X @ (theta + delta)  # (n, d_out)  seed: y2 <- torch_matmul(X2, thetas2)
    return RegressionData(X=X, y=y, theta=theta, delta=delta, delta_sigma=sigma)


def top_sigma_sq(m: torch.Tensor, r: int, generator: torch.Generator, oversample: int = 10) -> float:
    """sum_{i <= r} sigma_i(m)^2 in float64.

    Exact SVD for small matrices; for large ones a seeded randomized range finder with power iterations
    (Halko, Martinsson & Tropp 2011, algorithm 4.4) on r + oversample directions, which is exact to
    float64 rounding whenever sigma_{r+oversample+1} is well below sigma_r, as it is for a low-rank shift.
    """
    small = min(m.shape)
    r = min(r, small)
    if small <= 256 or r + oversample >= small // 2:
        return float((torch.linalg.svdvals(m)[:r] ** 2).sum())
    q = r + oversample
    omega = torch.randn(m.shape[1], q, generator=generator, dtype=m.dtype)
    basis, _ = torch.linalg.qr(m @ omega)  # (rows, q)
    for _ in range(4):  # power iterations sharpen the top directions
        basis, _ = torch.linalg.qr(m @ (m.T @ basis))
    s = torch.linalg.svdvals(basis.T @ m)  # (q,)
    return float((s[:r] ** 2).sum())


def gram(X: torch.Tensor, blocks: int = GRAM_BLOCKS) -> torch.Tensor:
    """X^T X (d, d) from X (n, d), computing only the blocks on and above the diagonal (G is symmetric).

    A block row i is X_i^T X[:, start_i:], mirrored below the diagonal: (blocks + 1) / (2 blocks) of the
    full product's work, the saving of BLAS's syrk, which torch does not expose.
    """
    d = X.shape[1]
    G = torch.empty(d, d, dtype=X.dtype)
    edges = [round(i * d / blocks) for i in range(blocks + 1)]
    for lo, hi in itertools.pairwise(edges):
        row = X[:, lo:hi].T @ X[:, lo:]  # (hi - lo, d - lo): block row i from the diagonal on
        G[lo:hi, lo:] = row
        G[lo:, lo:hi] = row.T
    return G


class _WhitenedLoss(torch.autograd.Function):
    """||s (L^T A^T) B^T - M||^2 / N with its gradient written out: one residual pass forward, two back.

    Autograd over the same expression keeps the squared residual and its gradient as separate
    (d_in, d_out) tensors: about twice the memory traffic per step (docs/fit.md "Speed").
    """

    @staticmethod
    def forward(ctx, lora_A, lora_B, Lt, M, scaling, N):
        left = scaling * (Lt @ lora_A.T)  # (d_in, r) = s L^T A^T
        E = torch.addmm(M, left, lora_B.T, beta=-1)  # (d_in, d_out) residual s L^T A^T B^T - M
        ctx.save_for_backward(left, E, lora_B, Lt)
        ctx.scaling, ctx.N = scaling, N
        flat = E.view(-1)
        return torch.dot(flat, flat) / N

    @staticmethod
    def backward(ctx, grad_out):
        left, E, lora_B, Lt = ctx.saved_tensors
        c = 2 * grad_out / ctx.N  # d loss / d E = 2 E / N
        grad_B = (E.T @ left) * c  # (d_out, r)
        grad_left = (E @ lora_B) * c  # (d_in, r)
        grad_A = ctx.scaling * (Lt.T @ grad_left).T  # (r, d_in)
        return grad_A, grad_B, None, None, None, None


class WhitenedProblem:
    """Everything a step needs, built once from (X, y, W): L, M and the residual R for the final check."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, W: torch.Tensor):
        self.n, self.d_in = X.shape
        self.d_out = y.shape[1]
        self.N = self.n * self.d_out  # outputs the MSE averages over
        # (n, d_out) y - X W: what the base gets wrong, computed directly (no cancellation)
        self.R = torch.addmm(y, X, W, beta=1, alpha=-1)
        G = gram(X).double()  # (d_in, d_in) X^T X
        C = (X.T @ self.R).double()  # (d_in, d_out) X^T R
        L, info = torch.linalg.cholesky_ex(G)  # (d_in, d_in) lower triangular, G = L L^T
        if int(info) != 0:
            raise LoraLabError("fit.rank_deficient")
        self.M64 = torch.linalg.solve_triangular(L, C, upper=False)  # (d_in, d_out) = L^{-1} X^T R
        self.Lt64 = L.T  # (d_in, d_in) upper triangular, float64
        self.Lt = self.Lt64.to(torch.float32).contiguous()
        self.M = self.M64.to(torch.float32)

    def rebased(self, X: torch.Tensor, W: torch.Tensor, W_new: torch.Tensor) -> WhitenedProblem:
        """The same problem with the frozen base W replaced by W_new (d_in, d_out), as PiSSA and OLoRA replace
        it by the residual W - s A0^T B0^T (lora_core.fit.adapters). X^T X, and so L, stay; with
        R' = y - X W_new = R + X (W - W_new), M' = L^{-1} X^T R' = M + L^T (W - W_new), since X^T X = L L^T."""
        new = object.__new__(WhitenedProblem)
        new.n, new.d_in, new.d_out, new.N = self.n, self.d_in, self.d_out, self.N
        shift = W.double() - W_new.double()  # (d_in, d_out), exact: a difference of two float32 tensors
        new.R = torch.addmm(self.R, X, shift.to(torch.float32))  # (n, d_out) R + X (W - W_new)
        new.Lt64, new.Lt = self.Lt64, self.Lt
        new.M64 = self.M64 + self.Lt64 @ shift  # (d_in, d_out)
        new.M = new.M64.to(torch.float32)
        return new

    def loss(self, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
        """||L^T D - M||^2 / N with D = s A^T B^T: the full-data MSE (R_perp = 0), differentiable."""
        return _WhitenedLoss.apply(lora_A, lora_B, self.Lt, self.M, float(scaling), float(self.N))

    def floor(self, r: int, seed: int = 0) -> float:
        """The X-weighted Eckart–Young floor: sum_{i > r} sigma_i(M)^2 / N."""
        total = float((self.M64**2).sum())
        g = torch.Generator().manual_seed(int(seed))
        return max(total - top_sigma_sq(self.M64, r, g), 0.0) / self.N

    def direct_loss(
        self, X: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float
    ) -> float:
        """The LoRA model's MSE on all n samples, from the data: X W + s (X A^T) B^T - y = s (X A^T) B^T - R.

        Independent of L and M, so it checks the whitened loss; summed in float64, in row blocks.
        """
        xa = X @ lora_A.T  # (n, r)
        total = 0.0
        for start in range(0, self.n, DIRECT_BLOCK):
            stop = start + DIRECT_BLOCK
            # (block, d_out) s (X A^T) B^T - R
            err = torch.addmm(self.R[start:stop], xa[start:stop], lora_B.T, beta=-1, alpha=scaling)
            flat = err.double().view(-1)
            total += float(torch.dot(flat, flat))
        return total / self.N


def prepare_regression(
    data: RegressionData,
    settings: FitSettings,
    *,
    started: float | None = None,
    problem: WhitenedProblem | None = None,
) -> PreparedFit:
    """Set up the adapter on (X, y) with the base W = theta frozen, on the whitened problem above.

    With init pissa / olora the frozen base becomes the residual theta - s A0^T B0^T (lora_core.fit.adapters);
    the floor stays the task's rank-r floor, and the variant's reachable floor is the residual problem's.
    `problem` is the whitened problem of (X, y, theta) if the caller built it already (a race shares it)."""
    started = time.perf_counter() if started is None else started
    X, theta = data.X, data.theta
    g = torch.Generator().manual_seed(settings.seed + 1)  # +1: not the stream that drew the data
    problem = problem or WhitenedProblem(X, data.y, theta)
    floor = problem.floor(settings.r, settings.seed)
    # Linear(d_in -> d_out): A (r, d_in), B (d_out, r); the layer's weight (out, in) is theta^T
    adapter = make_adapter(settings, theta.shape[1], theta.shape[0], g, base=theta.T)
    s = adapter.scaling
    base_run = theta if adapter.residual is None else adapter.residual.T  # (d_in, d_out) the frozen base
    run = problem if adapter.residual is None else problem.rebased(X, theta, base_run)
    if adapter.kind == "vera":
        reachable = None  # no closed form: only the plateau rule stops VeRA
    else:
        reachable = floor if adapter.residual is None else run.floor(settings.r, settings.seed)

    def loss_fn(*params: torch.Tensor) -> torch.Tensor:
        return run.loss(*adapter.factors(*params), s)

    def finish(out: TrainOutcome) -> FitResult:
        lora_A, lora_B = adapter.factors()
        adapted = s * (lora_A.T @ lora_B.T)  # (d_in, d_out) theta's orientation: what the adapter adds
        update_factors = None
        if adapter.start is not None:  # the model's change: W_res + s A^T B^T - W = s (A^T B^T - A0^T B0^T)
            A0, B0 = adapter.start
            update_factors = (torch.cat([s * lora_B, -s * B0], 1), torch.cat([lora_A.T, A0.T], 1))
        return build_result(
            settings,
            out,
            started,
            adapter,
            mode="regression",
            final_loss=run.direct_loss(X, lora_A, lora_B, s),
            optimal_loss=floor,
            reachable_floor=reachable,
            target=data.delta,
            target_sigma=tuple(data.delta_sigma.tolist()),
            learned=adapted if adapter.residual is None else base_run + adapted - theta,
            base=theta,
            base_out_in=base_run.T,
            generator=g,
            update_factors=update_factors,
        )

    return PreparedFit(settings, adapter, loss_fn, floor, reachable, finish)


def fit_regression(
    data: RegressionData,
    settings: FitSettings,
    *,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
    started: float | None = None,
) -> FitResult:
    """Train the adapter on (X, y) with the base W = theta frozen; see prepare_regression."""
    prepared = prepare_regression(data, settings, started=started)
    if on_floor is not None:
        on_floor(prepared.floor)
    return prepared.finish(prepared.train(callback=callback, should_stop=should_stop))


def run_regression(
    samples: int = DEFAULT_SAMPLES,
    d_in: int = DEFAULT_D_IN,
    d_out: int = DEFAULT_D_OUT,
    settings: FitSettings | None = None,
    *,
    shift: str = "ones",
    shift_rank: int = 1,
    callback: Callback = None,
    should_stop: StopFlag = None,
    on_floor: FloorHook = None,
) -> FitResult:
    """The seed's experiment end to end: make the data, train, report. `seconds` includes the data."""
    started = time.perf_counter()
    settings = settings or FitSettings(r=DEFAULT_REG_R)
    data = make_regression_data(samples, d_in, d_out, shift, shift_rank, settings.seed)
    return fit_regression(
        data, settings, callback=callback, should_stop=should_stop, on_floor=on_floor, started=started
    )
