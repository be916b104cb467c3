"""The one exception type a user can act on, and every message it can carry.

A `LoraLabError` is a stable code and the parameters that make it precise: names, values and limits,
`LoraLabError("spec.too_many_modules", field="target_modules", limit=64, count=70)`. `MESSAGES` maps each
code to its English template; `str(exc)` is that template filled in, which the CLI prints as
`error: <message>` with exit status 2. The core has no other language: the pages look the code up in
lora_ui/strings/errors.py and write the same parameters into the visitor's language.

Codes are dotted by area (`config.`, `spec.`, `params.`, `memory.`, `fit.`, `cli.`, ...) and are a contract
like the CLI's flags: a message may be reworded, a code is never renamed or reused for another meaning.
tests/test_errors.py checks that every raise names a code registered here with exactly its template's
parameters, and that both string tables cover every code.

Parameter values are plain data (str, int, float, bool, None), a `Clause` (a translatable piece such as why
a setting is absent), or a tuple/list of those, shown joined with ", ". Anything else escaping the core is a
bug.
"""

from __future__ import annotations

import string


class Clause:
    """A translatable piece of a message, given as a parameter: a registered code and its own parameters
    (`why_not` in lora_core.family.specs returns one). str() is its English."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, **params: object):
        self.code = code
        self.params = params

    def __str__(self) -> str:
        return render(self.code, self.params)

    def __repr__(self) -> str:
        return f"Clause({self.code!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Clause) and (self.code, self.params) == (other.code, other.params)

    def __hash__(self) -> int:
        return hash(self.code)

    def __reduce__(self):
        return (_clause, (self.code, self.params))


def _clause(code: str, params: dict) -> Clause:
    return Clause(code, **params)


class LoraLabError(ValueError):
    """Bad input: `code` says which problem (a key of MESSAGES), `params` its details; str() is the English."""

    def __init__(self, code: str, **params: object):
        self.code = code
        self.params = params
        # An unregistered code is taken as a message of its own (tests/test_errors.py keeps our code free
        # of them): the CLI prints it and the pages show it as it is, in English.
        super().__init__(render(code, params) if code in MESSAGES else code)

    def __reduce__(self):  # pickled across the fit worker's pipe: rebuilt from the code and parameters
        return (_rebuild, (type(self), self.code, self.params))


def _rebuild(cls: type[LoraLabError], code: str, params: dict) -> LoraLabError:
    return cls(code, **params)


def english(value: object) -> object:
    """A parameter ready for str.format in English: a Clause as its text, a tuple or list joined with ", "."""
    if isinstance(value, Clause):
        return str(value)
    if isinstance(value, (tuple, list)):
        return ", ".join(str(english(v)) for v in value)
    return value


def render(code: str, params: dict) -> str:
    """The English message of `code` with `params`."""
    return MESSAGES[code].format(**{k: english(v) for k, v in params.items()})


def fields(template: str) -> set[str]:
    """The parameter names a template uses."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


# The English of every code: the CLI's text (tests/test_*cli.py rely on some of it word for word) and the
# source the Telugu in lora_ui/strings/errors.py translates. Grouped by area, in the order of the modules.
MESSAGES: dict[str, str] = {
    # --- any value at a boundary (lora_core/validate.py and the spec and setup dataclasses) ---------------
    "value.not_integer": "{name} must be an integer, got {value!r}",
    "value.not_integer_type": "{name} must be an integer, got {type}",
    "value.int_range": "{name} must be between {minimum:,} and {maximum:,}, got {value:,}",
    "value.not_number": "{name} must be a number, got {value!r}",
    "value.not_finite": "{name} must be a finite number, got {value!r}",
    "value.negative": "{name} must be >= 0, got {value!r}",
    "value.not_positive": "{name} must be > 0, got {value!r}",
    "value.too_large": "{name} must be at most {maximum:g}, got {value!r}",
    "value.choice": "{name} must be one of {allowed}; got {value!r}",
    "value.not_bool": "{name} must be true or false, got {value!r}",
    # --- files: the CLI's reads and the pages' uploads ------------------------------------------------------
    "file.too_large": "{name} is {size:,} bytes; the limit is {limit:,}",
    "file.unreadable": "cannot read {path}: {reason}",
    "file.not_a_file": "{path} is not a file",
    # --- config.json (lora_core/config.py, lora_core/arch.py) ----------------------------------------------
    "config.not_finite": "config.json contains {value}; only finite numbers are allowed",
    "config.type": "config.json must be bytes or text, got {type}",
    "config.not_utf8": "config.json is not UTF-8 text",
    "config.field_not_integer": "{key} must be an integer, got {value}",
    "config.bad_json": "config.json is not valid JSON: {detail} at line {line} column {column}",
    "config.too_deep": "config.json is nested too deeply",
    "config.number_too_long": "config.json has a number too long to read; at most {limit:,} digits",
    "config.not_object": "config.json must be a JSON object, got a JSON {type}",
    "config.no_model_type": 'config.json needs a model_type string (e.g. "llama", "gpt2")',
    "config.unknown_model_type": "unknown model_type {model_type!r}: transformers has no such architecture",
    "config.architectures": 'architectures must be a non-empty list of class names, e.g. ["LlamaForCausalLM"]',
    "config.tie_word_embeddings": "tie_word_embeddings must be true or false",
    "config.no_width": "config.json needs the model width: one of {fields}",
    "config.no_depth": "config.json needs the number of layers: one of {fields}",
    "config.no_vocab": "config.json needs vocab_size",
    "arch.no_class": "no transformers model class for architecture {architecture!r} / model_type {model_type!r}",
    "arch.config_mismatch": "config.json does not fit model_type {model_type!r}: {detail}",
    "arch.cannot_build": "cannot build {model_class} from this config: {detail}",
    "preset.unknown": "unknown preset {name!r}; presets: {presets}",
    # --- the adapter spec (lora_core/spec.py, lora_core/family/) -------------------------------------------
    "spec.not_a_list": "{field} must be a list of module names, got {type}",
    "spec.no_modules": "{field} must name at least one module (e.g. q_proj,v_proj) or be {all_linear}",
    "spec.too_many_modules": "{field} may name at most {limit} modules, got {count}",
    "spec.bad_module_name": "{field}: {name!r} is not a module name (letters, digits, _ and .)",
    "spec.target_and_saved": "{modules} cannot be both a {label} target and in modules_to_save",
    "pattern.bad_key": (
        "{field}: {key!r} is not a module-name pattern (letters, digits and _ . * + ? ^ $ | \\ [ ] -, "
        "no groups, at most {limit} characters)"
    ),
    "pattern.too_many_repeats": "{field}: {key!r} has more than {limit} of * + ?",
    "pattern.invalid": "{field}: {key!r} is not a valid pattern ({detail})",
    "pattern.not_pair": "{field}: {part!r} is not NAME=VALUE (e.g. q_proj=16)",
    "pattern.not_mapping": "{field} must map module names to values, e.g. q_proj=16",
    "pattern.too_many": "{field} may have at most {limit} entries, got {count}",
    "pattern.key_type": "{field}: keys must be module names, got {key!r}",
    "pattern.duplicate": "{field}: {key!r} is given twice",
    "family.unknown_row": "adapter row must be one of {rows}; got {key!r}",
    "family.feedforward_outside": (
        "feedforward module {module!r} is not a target: IA3 needs every feedforward module in target_modules "
        "too ({targets})"
    ),
    "family.no_setting": "{label} takes no {setting}: {why}",
    # why_not's clauses: why an adapter type has no such setting (lora_core/family/specs.py)
    "why.no_field": "PEFT's {config_class} has no {setting}",
    "why.adalora_rank_pattern": (
        "AdaLoRA's rank_pattern is written by its rank allocator while training; every module starts at "
        "init_r (adalora/model.py:128)"
    ),
    "why.adalora_alpha_pattern": "every AdaLoRA module takes lora_alpha (adalora/model.py:129)",
    "why.adalora_use_dora": "PEFT refuses DoRA with AdaLoRA (adalora/config.py:75)",
    "why.adalora_use_rslora": "AdaLoRA scales by alpha itself, not alpha/sqrt(r) (adalora/layer.py:85)",
    "why.adalora_r": "AdaLoRA's rank is init_r",
    "why.ia3_r": "IA3 trains one vector per module and has no rank",
    "why.vera_alpha": "VeRA's two trained vectors do its scaling",
    "why.ia3_alpha": "IA3's trained vector is its scaling",
    # --- which modules an adapter wraps (lora_core/targeting.py) -------------------------------------------
    "params.all_linear_kind": (
        "all-linear takes a module ({module}) is a {kind}; PEFT's {label} adapts {supported} only, here: {usable}"
    ),
    "params.target_kind": (
        "target {target!r} matches a module ({module}) is a {kind}; PEFT's {label} adapts {supported} only, "
        "here: {usable}"
    ),
    "params.moe_lora_only": (
        "{target!r} names {architecture}'s fused MoE experts or router; PEFT adapts them for LoRA only "
        "(target_parameters), not {label}: target the attention projections instead"
    ),
    "params.target_unmatched": "target {target!r} matches no module of {architecture}; module names: {names}",
    "params.target_unmatched_moe": (
        "target {target!r} matches no module of {architecture}; module names: {names}, and the expert names "
        "{experts}"
    ),
    "params.moe_together": "{present} must be targeted together with {missing}: transformers 5 fuses them into {fused}",
    "params.moe_dora": (
        "PEFT has no DoRA for fused MoE expert tensors (ParamWrapper); drop use_dora or the expert targets"
    ),
    "params.saved_unmatched": "modules_to_save {module!r} matches no module of {architecture}; e.g. {names}",
    "params.nothing_adapted": "the spec adapts no module (every target is inside modules_to_save?)",
    "params.pattern_unmatched": "{field} key {key!r} matches no targeted module; targeted: {targeted}",
    "params.feedforward_not_target": (
        "feedforward module {module!r} is not a target: it ends no targeted module's name"
    ),
    # module kinds, as clauses of the two "is a {kind}" messages above
    "kind.linear": "nn.Linear",
    "kind.conv1d": "transformers Conv1D (GPT-2's transposed linear)",
    "kind.embedding": "nn.Embedding",
    "kind.moe_experts": "moe_experts module",
    "kind.norm": "norm module",
    "kind.other": "other module",
    "kind.none": "none",  # no module here is of a kind the type can wrap
    # --- the memory estimate (lora_core/memory/) -----------------------------------------------------------
    "memory.sharding_gpus": "sharding {sharding} needs --gpus 2 or more",
    "memory.qlora_cpu": "qlora needs bitsandbytes on CUDA; model it with device cuda",
    "memory.optimizer_8bit_cpu": "{optimizer} is a bitsandbytes CUDA optimizer; model it with device cuda",
    "memory.rank_pattern_layers": (
        "rank_pattern gives {pattern} different ranks in different layers ({ranks}); the memory estimate treats "
        "every layer alike, so give each module one rank in all layers (e.g. q_proj=16)"
    ),
    "memory.qlora_no_4bit_layer": (
        "PEFT has no 4-bit {label} layer (peft/tuners/{adapter} has no bnb.py: its layers read the base weight's "
        "shape, which 4-bit packing changes); use the lora method"
    ),
    "memory.adalora_sharding": (
        "the memory estimate does not model AdaLoRA's rank allocator under ZeRO/FSDP (it keeps full-size copies "
        "of every adapter tensor on each GPU, adalora/layer.py 409-430); use sharding none"
    ),
    "memory.cannot_wrap": "{module} is a {module_type}; {label} cannot wrap it",
    "memory.moe_experts": (
        "the memory estimator does not model LoRA on fused MoE expert tensors (PEFT target_parameters) such as "
        "{module}; target the attention projections instead"
    ),
    "memory.saved_cannot_wrap": "modules_to_save cannot wrap {module} ({module_type})",
    "memory.saved_unmatched": "modules_to_save {module!r} matches no module of {model_class}",
    "memory.rank_method": "rank only applies to lora and qlora",
    "memory.no_rank": "{label} has no rank",
    "memory.margin_negative": "margin must be >= 0, got {margin}",
    "memory.unknown_gpu": "unknown GPU {name!r}; known: {known}",
    "memory.seq_too_short": "the model allows sequences of at most {limit} tokens; too short to trace",
    "memory.trace_ops_differ": (
        "this model runs different operations at different sequence lengths; its activations cannot be "
        "derived from one trace"
    ),
    "memory.trace_not_polynomial": (
        "this model's tensor sizes are not products of its dimensions and the batch, sequence and rank; its "
        "activations cannot be derived exactly"
    ),
    # events.DepthError: the traced layers do not repeat, so the real depth's sequence cannot be derived
    "memory.depth_no_stack": "no stack of identical layers was found in the traced model",
    "memory.depth_unseen": "a layer's forward or backward was not seen in the traced step",
    "memory.depth_forwards_differ": "the traced layers' forwards differ",
    "memory.depth_backwards_differ": "the traced layers' backwards differ",
    "memory.depth_outlives": "a storage outlives the layers around it",
    "memory.depth_dies_late": "a storage dies past its layer's ops",
    "memory.depth_dies_early": "a storage would die before it is born",
    # --- the Fit page's targets and settings (lora_core/fit/) ----------------------------------------------
    "fit.target_too_large": "the target is {rows} x {cols}; each side may be at most {limit}",
    "fit.samples_below_d_in": (
        "samples ({samples:,}) must be at least d_in ({d_in:,}) so that X has full column rank"
    ),
    "fit.rank_deficient": "X does not have full column rank; use more samples than d_in",
    "fit.vera_takes_no": (
        "VeRA trains two scaling vectors with A and B frozen at random, so it takes no {settings}: those are "
        "LoRA's only"
    ),
    "fit.init_needs_base": (
        "init {init} starts from the base weight W's top-r directions, and matrix mode has no base (it fits ΔW "
        "alone): use regression mode, or init gaussian"
    ),
    "fit.init_rank": "init {init} takes r directions of the base weight W ({rows} x {cols}): r must be at most {limit}, got {r}",
    "fit.race.none": "choose at least one variant to race",
    "fit.race.variant": "variant must be one of {choices}; got {value!r}",
    "fit.race.twice": "each variant may race once",
    "fit.race.needs_base": (
        "{names} start from the base weight W, and matrix mode has no base (it fits ΔW alone): race them in "
        "regression mode"
    ),
    "fit.race.rank": "{names} take r directions of the base weight W: r must be at most min(d_in, d_out) = {limit}, got {r}",
    "fit.upload.kind": "{name}: the target must be one of {kinds}",
    "fit.upload.not_numbers": "{name}: the values must be numbers, got dtype {dtype}",
    "fit.upload.complex": "{name}: complex numbers are not allowed",
    "fit.upload.not_2d": "{name}: a target must be a 2-D matrix, got {ndim} dimensions",
    "fit.upload.empty": "{name}: the matrix is empty",
    "fit.upload.too_large": "{name}: {rows} x {cols} is too large; each side may be at most {limit}",
    "fit.upload.not_finite": "{name}: the matrix contains NaN or infinite values",
    "fit.upload.too_big_values": "{name}: values beyond ±1e15 are not allowed",
    "fit.upload.csv_not_utf8": "{name}: a .csv file must be UTF-8 text",
    "fit.upload.csv_rows": "{name}: {rows} rows; at most {limit} are allowed",
    "fit.upload.csv_cell": "{name}: every cell must be a number ({detail})",
    "fit.upload.csv_ragged": "{name}: rows have different numbers of columns",
    "fit.upload.npy_version": "{name}: .npy format version {version} is not supported; use 1.0 or 2.0",
    "fit.upload.npy_header": "{name}: not a .npy file ({error}: {detail})",
    "fit.upload.npy_complex": "{name}: complex numbers are not allowed; the values must be real numbers",
    "fit.upload.npy_dtype": "{name}: the values must be numbers (bool, integer or float), got dtype {dtype!r}",
    "fit.upload.npy_dims": "{name}: a target must be a 1-D or 2-D array, got {ndim} dimensions",
    "fit.upload.npy_empty_side": (
        "{name}: shape {shape} has an empty or negative side; each side must be 1 to {limit}"
    ),
    "fit.upload.npy_truncated": (
        "{name}: the header claims shape {shape} of {dtype} ({needed:,} bytes) but only {present:,} bytes of "
        "data follow; the file is truncated or wrong"
    ),
    "fit.upload.npy_unreadable": "{name}: not a numeric .npy file ({detail})",
    "fit.upload.npy_not_array": "{name}: not a single .npy array",
    "fit.upload.image_too_large": "{name}: {width} x {height} pixels; each side may be at most {limit}",
    "fit.upload.image_bomb": "{name}: too many pixels ({detail}); each side may be at most {limit}",
    "fit.upload.image_unreadable": "{name}: not a readable image ({detail})",
    # --- the command line's own checks (lora_core/cli.py, lora_core/commands/) ------------------------------
    "cli.usage": "{message}",  # argparse's own message (its English)
    "cli.rank_required": "--rank is required with --adapter {adapter}",
    "cli.rank_not_ia3": "--rank does not apply to --adapter ia3: IA3 trains one vector per module, no rank",
    "cli.flag_not_for_adapter": "{flag} does not apply to --adapter {adapter}: {why}",
    "cli.seq_lens_count": "--seq-lens takes at most {limit} lengths, got {count}",
    "cli.seq_lens_setup": "--seq-lens replays the CUDA caching allocator: needs --device cuda and no sharding",
    "cli.regression_only": "{flags} only apply to --mode regression",
    "cli.matrix_only": "{flags} only apply to --mode matrix",
    "cli.target_or_generated": "give either --target or {flags}, not both",
    "cli.vera_alpha": "--alpha does not apply to --adapter vera: VeRA's two trained vectors do its scaling",
    "cli.init_needs_base": (
        "--init {init} starts from the base weight W, and --mode matrix has no base (it fits ΔW alone): use "
        "--mode regression, or --init gaussian"
    ),
    # --- raised by the app (lora_ui, pages/): one registry lists every code ---------------------------------
    "app.upload_needed": "Upload a target file to train on it.",
    "app.worker_died": (
        "the fit stopped unexpectedly: the process training it ended (exit code {exit_code}; for example, the "
        "server ran short of memory). Press Train to try again."
    ),
    "app.max_running": "at least one fit must be allowed to run, got {max_running}",
}
