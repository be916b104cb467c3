"""kernels.py's CUDA autocast lists against torch 2.13's own (include/ATen/autocast_mode.h, installed with torch).

Every op of AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32 and AT_FORALL_FP32_SET_OPT_DTYPE that Python code reaches
through a function of the same name (torch.X, torch.Tensor.X, torch.nn.functional.X, torch.linalg.X) must be in
the matching emulated list, and no op may be in both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lora_core.memory import kernels

HEADER = Path(torch.__file__).parent / "include" / "ATen" / "autocast_mode.h"
# Ops of the header's lists with no Python function of their own (internal, or reached only through another op)
INTERNAL = {
    "_convolution", "conv_tbc", "convolution", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "lstm_cell",
    "gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "_scaled_dot_product_flash_attention", "native_layer_norm",
    "frobenius_norm", "nuclear_norm", "nll_loss2d", "pdist", "upsample_nearest1d", "_upsample_nearest_exact1d",
    "upsample_nearest2d", "_upsample_nearest_exact2d", "upsample_nearest3d", "_upsample_nearest_exact3d",
    "upsample_linear1d", "upsample_bilinear2d", "_upsample_bilinear2d_aa", "upsample_trilinear3d",
    "upsample_bicubic2d", "_upsample_bicubic2d_aa", "linalg_vector_norm", "linalg_matrix_norm",
    "linalg_vecdot", "linalg_multi_dot",
}  # fmt: skip


def header_list(name: str) -> set[str]:
    text = HEADER.read_text()
    body = text.split(f"#define {name}(_)", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"_\((\w+)", body))


def python_functions(op: str) -> list:
    out = []
    for owner in (torch, torch.Tensor, F, torch.linalg):
        fn = getattr(owner, op, None)
        if callable(fn):
            out.append(fn)
    return out


@pytest.mark.parametrize(
    "macro,emulated",
    [
        ("AT_FORALL_LOWER_PRECISION_FP", kernels._LOWER_CUDA),
        ("AT_FORALL_FP32", kernels._FP32_CUDA),
        ("AT_FORALL_FP32_SET_OPT_DTYPE", kernels._FP32_CUDA),
    ],
)
def test_cuda_lists_hold_every_op_of_torchs_lists(macro, emulated):
    ops = header_list(macro)
    assert len(ops) >= 8  # the header was read
    missing = [op for op in sorted(ops - INTERNAL) if python_functions(op) and not set(python_functions(op)) & emulated]
    assert not missing, f"{macro}: not emulated: {missing}"


def test_no_op_is_in_both_cuda_lists():
    assert not kernels._LOWER_CUDA & kernels._FP32_CUDA
    assert F.scaled_dot_product_attention in kernels._LOWER_CUDA  # listed in AT_FORALL_LOWER_PRECISION_FP
    assert F.rms_norm in kernels._FP32_CUDA and F.layer_norm in kernels._FP32_CUDA
