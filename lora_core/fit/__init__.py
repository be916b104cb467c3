"""The live LoRA fit (see docs/fit.md)."""

from lora_core.fit.matrix import *  # noqa: F403
from lora_core.fit.matrix import (  # noqa: F401
    DEFAULT_ALPHA,
    DEFAULT_COLS,
    DEFAULT_D_IN,
    DEFAULT_D_OUT,
    DEFAULT_LR,
    DEFAULT_MAX_SECONDS,
    DEFAULT_NOISE,
    DEFAULT_PROFILE,
    DEFAULT_R,
    DEFAULT_REG_R,
    DEFAULT_ROWS,
    DEFAULT_SAMPLES,
    DEFAULT_STEPS,
    DEFAULT_TRUE_RANK,
    MAX_FIT_SECONDS,
    MAX_RANK,
    MAX_STEPS,
    FitSettings,
    fit_matrix,
    fit_regression,
    run_matrix,
    run_regression,
)
