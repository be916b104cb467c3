"""Widget keys, which are also the URL query-parameter names (widgets use bind="query-params").

One place for all of them, so a shared link's parameters are documented here and no two pages collide.
Keys are global across pages in st.session_state, so each page's keys are distinct.
"""

# Every page
LANG = "lang"

# Learn page: ?learn_r=16 (the worked example's own rank)
LEARN_R = "learn_r"

# Matrix page: ?d=4096&k=4096&r=8
MATRIX_D = "d"
MATRIX_K = "k"
MATRIX_R = "r"

# Model page
MODEL_PRESET = "preset"
MODEL_TARGETS = "targets"
MODEL_RANK = "rank"
MODEL_ALPHA = "alpha"
MODEL_BIAS = "bias"
MODEL_DORA = "dora"
MODEL_SAVE = "save"
MODEL_ADAPTER = "adapter"  # lora | vera | loha | lokr | ia3 | adalora (lora_core.family.ADAPTERS)
MODEL_RSLORA = "rslora"
MODEL_FEEDFORWARD = "feedforward"  # IA3 feedforward_modules
MODEL_UPLOAD = "model_upload"  # file uploads cannot live in a URL

# Memory page: ?mem_preset=llama-3-8b&mem_method=qlora&mem_batch=4 ...
MEM_SOURCE = "mem_source"  # preset | upload
MEM_PRESET = "mem_preset"
MEM_UPLOAD = "mem_upload"  # file uploads cannot live in a URL
MEM_TARGETS = "mem_targets"
MEM_RANK = "mem_rank"
MEM_DORA = "mem_dora"
MEM_BIAS = "mem_bias"  # none | lora_only | all
MEM_SAVE = "mem_save"  # modules_to_save, comma-separated
MEM_ADAPTER = "mem_adapter"  # lora | vera | loha | lokr | ia3 | adalora (lora_core.family.ADAPTERS)
MEM_RANK_PATTERN = "mem_rank_pattern"  # PEFT rank_pattern as q_proj=16,v_proj=4
MEM_RSLORA = "mem_rslora"
MEM_FEEDFORWARD = "mem_ff"  # IA3 feedforward_modules, comma-separated
MEM_METHOD = "mem_method"
MEM_PRECISION = "mem_precision"
MEM_OPTIMIZER = "mem_optimizer"
MEM_BATCH = "mem_batch"
MEM_SEQ = "mem_seq"
MEM_CKPT = "mem_ckpt"
MEM_ATTENTION = "mem_attention"
MEM_GPUS = "mem_gpus"
MEM_SHARDING = "mem_sharding"
MEM_SOLVE_GPU = "mem_solve_gpu"
MEM_SOLVE_VAR = "mem_solve_var"
MEM_SOLVE_RUN = "mem_solve_run"  # a button: not bound to the URL
# Session state: the solver inputs the student last asked about (leading "_": never a URL parameter)
MEM_SOLVE_ASKED = "_mem_solve_asked"

# Fit page: ?fit_mode=matrix&fit_rows=64&fit_cols=48&fit_k=8&fit_r=4 ...
FIT_MODE = "fit_mode"  # matrix | regression
FIT_SOURCE = "fit_source"  # matrix mode: generated | upload
FIT_ROWS = "fit_rows"  # matrix: rows of ΔW; regression: d_in
FIT_COLS = "fit_cols"  # matrix: cols of ΔW; regression: d_out
FIT_K = "fit_k"  # true rank of the generated signal (regression: of the lowrank shift)
FIT_PROFILE = "fit_profile"  # flat | linear | geometric
FIT_NOISE = "fit_noise"
FIT_SAMPLES = "fit_samples"  # regression: n
FIT_SHIFT = "fit_shift"  # regression: ones | lowrank
FIT_R = "fit_r"
FIT_ALPHA = "fit_alpha"
FIT_STEPS = "fit_steps"
FIT_LR = "fit_lr"
FIT_SEED = "fit_seed"
FIT_CONVERGE = "fit_converge"  # stop when converged (floor or plateau); false: train to the step cap
FIT_UPLOAD = "fit_upload"  # file uploads cannot live in a URL
FIT_TRAIN = "fit_train"  # buttons: not bound to the URL
FIT_STOP = "fit_stop"
FIT_SWEEP = "fit_sweep"
FIT_JOB = "fit_job"  # session state (not widgets): the running or last fit
FIT_SWEEP_JOB = "fit_sweep_job"
# Session state: a click on Train / Rank sweep, recorded by the button's on_click until the page acts on it
# (leading "_": never a URL parameter). See pages/fit.py `ask`.
FIT_TRAIN_ASKED = "_fit_train_asked"
FIT_SWEEP_ASKED = "_fit_sweep_asked"
# Fit page, the race (issue 15 §4): ?fit_race=LoRA&fit_race=rsLoRA&fit_race_lr_ratio=16&fit_race_vera_r=64.
# A multiselect takes repeated parameters; its values are the variants' names (lora_core.fit.VARIANT_NAMES),
# the same in every language.
FIT_RACE_VARIANTS = "fit_race"
FIT_RACE_LR_RATIO = "fit_race_lr_ratio"  # LoRA+'s λ
FIT_RACE_VERA_R = "fit_race_vera_r"  # VeRA's rank; absent: the race's r
FIT_RACE = "fit_race_go"  # buttons: not bound to the URL
FIT_RACE_STOP = "fit_race_stop"
FIT_RACE_SWEEP = "fit_race_sweep"
FIT_RACE_JOB = "fit_race_job"  # session state: the running or last race
FIT_RACE_SWEEP_JOB = "fit_race_sweep_job"
FIT_RACE_SETUP = "_fit_race_setup"  # session state: the running race's (RaceSettings, FitSettings)
FIT_RACE_ASKED = "_fit_race_asked"
FIT_RACE_SWEEP_ASKED = "_fit_race_sweep_asked"
