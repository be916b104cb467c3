"""One weight matrix W (d x k): what full fine-tuning trains against what LoRA trains.

Full fine-tuning updates all d*k entries of W. LoRA freezes W and learns dW = B @ A with
B of shape (d, r) and A of shape (r, k): (d + k) * r values (Hu et al. 2021, LoRA, section 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_core.validate import MAX_DIM, positive_int


@dataclass(frozen=True)
class MatrixShape:
    """One weight matrix and a LoRA rank, as the Matrix page's sliders give them (checked by `cost()`)."""

    d: int  # rows of W (output features)
    k: int  # columns of W (input features)
    r: int  # LoRA rank

    def cost(self) -> MatrixCost:
        return matrix_cost(self.d, self.k, self.r)


@dataclass(frozen=True)
class MatrixCost:
    d: int  # rows of W (output features)
    k: int  # columns of W (input features)
    r: int  # LoRA rank
    full_params: int  # d * k
    lora_params: int  # (d + k) * r: B is (d, r), A is (r, k)
    ratio: float  # lora_params / full_params
    percent: float  # 100 * ratio
    break_even_rank: float  # d*k / (d+k): above it LoRA trains more values than W itself

    @property
    def past_break_even(self) -> bool:
        return self.lora_params > self.full_params

    def as_dict(self) -> dict:
        return {
            "d": self.d,
            "k": self.k,
            "r": self.r,
            "full_params": self.full_params,
            "lora_params": self.lora_params,
            "ratio": self.ratio,
            "percent": self.percent,
            "break_even_rank": self.break_even_rank,
        }


def break_even_rank(d: int, k: int) -> float:
    """The rank at which (d + k) * r equals d * k."""
    return d * k / (d + k)


def matrix_cost(d: int, k: int, r: int) -> MatrixCost:
    """Trainable values for full fine-tuning and for rank-r LoRA on one d x k matrix.

    The rank may exceed min(d, k) (the cost is still (d + k) * r, it just buys nothing);
    it is capped at MAX_DIM like the dimensions.
    """
    d = positive_int("d (rows)", d, maximum=MAX_DIM)
    k = positive_int("k (cols)", k, maximum=MAX_DIM)
    r = positive_int("rank r", r, maximum=MAX_DIM)
    full = d * k
    lora = (d + k) * r
    ratio = lora / full
    return MatrixCost(
        d=d,
        k=k,
        r=r,
        full_params=full,
        lora_params=lora,
        ratio=ratio,
        percent=100.0 * ratio,
        break_even_rank=break_even_rank(d, k),
    )
