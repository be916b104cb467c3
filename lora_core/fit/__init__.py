"""The live LoRA fit: learn a rank-r ΔW = (alpha/r) B A with Adam, and compare it with the best possible.

Two modes (issue 4):
- matrix: fit a target ΔW (rows, cols) directly; loss = ||ΔW - (alpha/r) B A||_F^2 / (rows * cols).
- regression: the seed article's experiment (002), y = X (theta + ΔW) with the base W = theta frozen.

Both report the floor (Eckart–Young; X-weighted in regression mode), the loss history, the learned ΔW
and its singular values beside the target's, the merged W + ΔW and the merge check. A fit stops when it is
done (within a small tolerance of the floor, or when the loss has stopped improving), the step and time
caps being guards. Callers pass `callback(step, loss)` for live progress and `should_stop()` for
cancellation. docs/fit.md explains the method and its measurements.

Modules, one idea each:
- settings: FitSettings (rank, scaling, optimiser, stopping), the defaults and the caps;
- targets: generated low-rank targets and the Eckart–Young floor;
- uploads: a target from a file's untrusted bytes (.npy, .csv, images), checked before decoding;
- trainer: the training loop (our Adam, the stopping rules), which knows nothing about the problem;
- matrix: matrix mode (fit_matrix, run_matrix);
- regression: regression mode (its data, the whitened problem, fit_regression, run_regression);
- results: what a fit returns (FitResult, the merge check) and what a page keeps of it (FitPreview);
- sweep: the rank sweep;
- task: one fit, sweep, race or race sweep as plain values, for another process to run (FitTask);
- adapters: how the trained tensors make ΔŴ: LoRA's variants (rsLoRA, LoRA+, PiSSA, OLoRA) and VeRA;
- race: several variants on one target at once, against one floor (issue 15 §4).

The names below are the public API: import them from `lora_core.fit`.
"""

from lora_core.fit.adapters import Adapter, make_adapter
from lora_core.fit.matrix import fit_matrix, prepare_matrix, run_matrix
from lora_core.fit.race import (
    BASE_VARIANTS,
    DEFAULT_LR_RATIO,
    DEFAULT_VARIANTS,
    SWEEP_STEPS,
    VARIANT_NAMES,
    VARIANTS,
    RaceLane,
    RaceResult,
    RaceSettings,
    RaceSweepPoint,
    race_sweep,
    run_race,
    variant_settings,
)
from lora_core.fit.regression import (
    MAX_SAMPLES,
    SHIFTS,
    RegressionData,
    RegressionSettings,
    fit_regression,
    make_regression_data,
    prepare_regression,
    run_regression,
)
from lora_core.fit.results import FitPreview, FitResult, preview
from lora_core.fit.settings import (
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
    FIT_ADAPTERS,
    INITS,
    MAX_FIT_ALPHA,
    MAX_FIT_SECONDS,
    MAX_LR,
    MAX_LR_RATIO,
    MAX_RANK,
    MAX_SEED,
    MAX_STEPS,
    SCALING_RULES,
    FitSettings,
)
from lora_core.fit.sweep import SweepPoint, sweep_matrix, sweep_ranks, sweep_regression
from lora_core.fit.targets import (
    MAX_NOISE,
    MAX_SIDE,
    PROFILES,
    TargetSettings,
    eckart_young_floor,
    make_target,
    singular_values,
)
from lora_core.fit.task import FIT, RACE, RACE_SWEEP, SWEEP, FitTask, run_task
from lora_core.fit.trainer import FLOOR_TOLERANCE, STOP_REASONS, TrainOutcome, init_lora, train, train_adam
from lora_core.fit.uploads import FILE_KINDS, MAX_UPLOAD_BYTES, NUMERIC_KINDS, parse_target

__all__ = [
    "BASE_VARIANTS",
    "DEFAULT_ALPHA",
    "DEFAULT_COLS",
    "DEFAULT_D_IN",
    "DEFAULT_D_OUT",
    "DEFAULT_LR",
    "DEFAULT_LR_RATIO",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_NOISE",
    "DEFAULT_PROFILE",
    "DEFAULT_R",
    "DEFAULT_REG_R",
    "DEFAULT_ROWS",
    "DEFAULT_SAMPLES",
    "DEFAULT_STEPS",
    "DEFAULT_TRUE_RANK",
    "DEFAULT_VARIANTS",
    "FILE_KINDS",
    "FIT",
    "FIT_ADAPTERS",
    "FLOOR_TOLERANCE",
    "INITS",
    "MAX_FIT_ALPHA",
    "MAX_FIT_SECONDS",
    "MAX_LR",
    "MAX_LR_RATIO",
    "MAX_NOISE",
    "MAX_RANK",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_SIDE",
    "MAX_STEPS",
    "MAX_UPLOAD_BYTES",
    "NUMERIC_KINDS",
    "PROFILES",
    "RACE",
    "RACE_SWEEP",
    "SCALING_RULES",
    "SHIFTS",
    "STOP_REASONS",
    "SWEEP",
    "SWEEP_STEPS",
    "VARIANTS",
    "VARIANT_NAMES",
    "Adapter",
    "FitPreview",
    "FitResult",
    "FitSettings",
    "FitTask",
    "RaceLane",
    "RaceResult",
    "RaceSettings",
    "RaceSweepPoint",
    "RegressionData",
    "RegressionSettings",
    "SweepPoint",
    "TargetSettings",
    "TrainOutcome",
    "eckart_young_floor",
    "fit_matrix",
    "fit_regression",
    "init_lora",
    "make_adapter",
    "make_regression_data",
    "make_target",
    "parse_target",
    "prepare_matrix",
    "prepare_regression",
    "preview",
    "race_sweep",
    "run_matrix",
    "run_race",
    "run_regression",
    "run_task",
    "singular_values",
    "sweep_matrix",
    "sweep_ranks",
    "sweep_regression",
    "train",
    "train_adam",
    "variant_settings",
]
