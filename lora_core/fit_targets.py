"""Matrix-mode targets for the live fit: a generated low-rank ΔW or an uploaded one, and its Eckart–Young floor.

The floor is the best loss any rank-r matrix can reach: by the Eckart–Young–Mirsky theorem
(Eckart & Young 1936) the closest rank-r matrix to T in the Frobenius norm is its truncated SVD, so

    min over rank-r D of ||T - D||_F^2 = sum_{i > r} sigma_i(T)^2.

Divided by rows * cols it is the floor of the fit loss ||T - (alpha/r) B A||_F^2 / (rows * cols).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch

from lora_core.errors import LoraLabError
from lora_core.validate import choice, positive_float, positive_int

# Caps for a shared classroom server (issue 4): one target side at most 2048, an upload at most 2 MB
# (the same as server.maxUploadSize in .streamlit/config.toml).
MAX_SIDE = 2048
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
UPLOAD_KINDS = ("npy", "csv", "png", "jpg", "jpeg", "bmp", "gif", "webp")

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
    noise = positive_float("noise", noise, maximum=100.0, allow_zero=True)
    g = torch.Generator().manual_seed(int(seed))
    signal, _ = make_lowrank(rows, cols, true_rank, profile, g)
    if noise > 0:
        signal = signal + noise * torch.randn(rows, cols, generator=g, dtype=torch.float64)
    return signal.to(torch.float32)


def _check_array(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LoraLabError(f"{source}: the values must be numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise LoraLabError(f"{source}: complex numbers are not allowed")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise LoraLabError(f"{source}: a target must be a 2-D matrix, got {arr.ndim} dimensions")
    r, c = arr.shape
    if r < 1 or c < 1:
        raise LoraLabError(f"{source}: the matrix is empty")
    if r > MAX_SIDE or c > MAX_SIDE:
        raise LoraLabError(f"{source}: {r} x {c} is too large; each side may be at most {MAX_SIDE}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise LoraLabError(f"{source}: the matrix contains NaN or infinite values")
    if np.abs(arr).max(initial=0.0) > 1e15:
        raise LoraLabError(f"{source}: values beyond ±1e15 are not allowed")
    return arr


def parse_target(name: str, data: bytes) -> torch.Tensor:
    """A target ΔW from an uploaded file: .npy (numpy, never pickled objects), .csv, or a grayscale image.

    An image becomes its gray levels scaled to [0, 1], so a picture shows what rank r keeps.
    Raises LoraLabError for anything else: wrong kind, too many bytes, too large, non-numeric, NaN.
    """
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in UPLOAD_KINDS:
        raise LoraLabError(f"{name}: the target must be one of .{', .'.join(UPLOAD_KINDS)}")
    if len(data) > MAX_UPLOAD_BYTES:
        raise LoraLabError(f"{name} is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    if kind == "npy":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)  # never unpickle user data
        except (ValueError, OSError, EOFError) as exc:
            raise LoraLabError(f"{name}: not a numeric .npy file ({exc})") from None
        if not isinstance(arr, np.ndarray):
            raise LoraLabError(f"{name}: not a single .npy array")
    elif kind == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LoraLabError(f"{name}: a .csv file must be UTF-8 text") from None
        rows = [line for line in text.splitlines() if line.strip()]
        if len(rows) > MAX_SIDE:
            raise LoraLabError(f"{name}: {len(rows)} rows; at most {MAX_SIDE} are allowed")
        try:
            cells = [[float(x) for x in line.replace(";", ",").split(",")] for line in rows]
        except ValueError as exc:
            raise LoraLabError(f"{name}: every cell must be a number ({exc})") from None
        if len({len(r) for r in cells}) > 1:
            raise LoraLabError(f"{name}: rows have different numbers of columns")
        arr = np.array(cells, dtype=np.float64)
    else:
        arr = _read_image(name, data)
    return torch.from_numpy(_check_array(arr, name)).to(torch.float32)


def _read_image(name: str, data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size  # read from the header, before decoding any pixels
            if w > MAX_SIDE or h > MAX_SIDE:
                raise LoraLabError(f"{name}: {w} x {h} pixels; each side may be at most {MAX_SIDE}")
            gray = np.asarray(im.convert("L"), dtype=np.float64)  # (h, w), 0..255
    except LoraLabError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LoraLabError(f"{name}: not a readable image ({exc})") from None
    return gray / 255.0  # 8-bit gray levels to [0, 1]


def singular_values(t: torch.Tensor) -> torch.Tensor:
    """All singular values of a matrix, largest first, in float64. # (min(rows, cols),)"""
    return torch.linalg.svdvals(t.to(torch.float64))


def eckart_young_floor(sigma: torch.Tensor, r: int, entries: int) -> float:
    """Best rank-r loss: sum of sigma_i^2 beyond r, per entry (Eckart–Young)."""
    return float((sigma[r:].to(torch.float64) ** 2).sum()) / entries
