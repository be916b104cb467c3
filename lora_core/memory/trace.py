"""Live bytes of one forward + backward, traced on the meta device and fitted as polynomials in b, s and r.

How (no GPU, no real memory): live_bytes.trace_step runs the recipe's model on the meta device, with 2 and 3
layers, at a few small shapes, and records the bytes alive besides the weights after every op.

Every op's live bytes are a polynomial in the batch b, sequence s and rank r with the basis
{1, b, s, b·s, s², b·s², r, r·b·s} (embeddings, hidden states and logits are b·s; eager attention b·s²;
rotary tables s; the loss's padded labels b·(s+1); LoRA's x·A is b·s·r and its weights r). Eight traced
shapes determine the coefficients exactly; tests/test_memory_activations.py checks the fit against an
untraced shape. Layers are identical, so the live bytes of the real L-layer model are extrapolated linearly
from the 2- and 3-layer traces (checked against a full-depth trace in the tests). Results are cached per
(config, spec, recipe), and traces run in a worker process when the app gives one (request, trace_in).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from lora_core.memory import recipe
from lora_core.memory.live_bytes import Trace, basis, trace_step
from lora_core.memory.setup import TrainingSetup

_log = logging.getLogger(__name__)

# Traced shapes (b, s, r): b >= 2 so batch-1 views cannot differ from the general case; s a multiple of 8.
# The grid b in {2, 3} x s in {8, 16, 24} fixes the six (b, s) terms; two points at r=4 fix the rank terms.
_POINTS = ((2, 8, 2), (3, 8, 2), (2, 16, 2), (3, 16, 2), (2, 24, 2), (3, 24, 2), (2, 8, 4), (3, 16, 4))
_POINTS_FULL = _POINTS[:6]  # full fine-tuning has no rank
_TERMS = 8
_LAYERS = (2, 3)
_CACHE = 32  # a fitted model is ~0.5 MB of coefficients (3-layer traces); 32 bounds it at ~16 MB


# Phases reported by LiveModel.phases, in this order.
PHASES = ("forward_peak", "forward_end", "backward_peak", "backward_end")


@dataclass(frozen=True)
class LiveModel:
    """Coefficients of every op's live bytes (and gradient bytes) at depths 2 and 3."""

    live: tuple[np.ndarray, np.ndarray]  # (ops_L, _TERMS) per traced depth
    grads: tuple[np.ndarray, np.ndarray]
    forward_end: tuple[int, int]
    layers: int  # the real depth

    def phases(self, b: int, s: int, r: int, grad_fraction: float = 1.0) -> dict[str, float]:
        """Live bytes (besides weights and optimizer state) at each phase, for the real depth.

        grad_fraction < 1 models sharded gradients (ZeRO-2/3: each GPU keeps 1/N of them).
        """
        x = basis(b, s, r)
        per_depth = []
        for live, grads, f in zip(self.live, self.grads, self.forward_end, strict=True):
            y = live @ x - (1.0 - grad_fraction) * (grads @ x)
            per_depth.append(np.array([y[: f + 1].max(), y[f], y[f + 1 :].max(), y[-1]]))
        l2, l3 = per_depth
        # Identical layers: each phase's peak grows by the same amount per layer (checked in the tests).
        out = l2 + (self.layers - _LAYERS[0]) * (l3 - l2)
        return {name: float(max(v, 0.0)) for name, v in zip(PHASES, out, strict=True)}


def _key(config: dict, spec, setup: TrainingSetup) -> str:
    from dataclasses import asdict

    sp = None
    if spec is not None and setup.method != "full":
        sp = asdict(spec)
        sp["r"] = 1  # the rank is a variable of the fit, not of the cache key
    st = asdict(setup)
    for k in ("batch", "seq", "gpus", "sharding", "optimizer", "double_quant"):
        st.pop(k)
    if setup.method == "qlora" and not setup.autocast:
        st["method"] = "lora"  # the traced stand-in for a QLoRA base is the compute-dtype LoRA model itself
    return json.dumps({"config": config, "spec": sp, "setup": st}, sort_keys=True, default=list)


def live_model(config: dict, spec, setup: TrainingSetup) -> LiveModel:
    """The fitted live-bytes model for this architecture, LoRA spec and recipe (cached)."""
    return _live_model(_key(config, spec, setup))


def spec_from_dict(sp: dict | None):
    """A LoraSpec back from its asdict() form (cache keys are JSON)."""
    from lora_core.spec import LoraSpec

    if sp is None:
        return None
    sp = dict(sp)
    if isinstance(sp["target_modules"], list):
        sp["target_modules"] = tuple(sp["target_modules"])
    sp["modules_to_save"] = tuple(sp["modules_to_save"])
    return LoraSpec(**sp)


# Where traces run. None: in this process. The app sets an executor (lora_ui/trace_pool.py) so that a trace, seconds
# of Python holding the interpreter lock, runs in a worker process while the server keeps answering others.
_EXECUTOR = None
# Fitted models by key (most recently used last), traces submitted and not yet collected, and traces that
# failed with the time they failed (so that `request` says "ready" and every estimate of that key raises the
# error, until FAILED_TTL_S has passed and the next ask traces again).
_DONE: OrderedDict[str, LiveModel] = OrderedDict()
_RUNNING: dict[str, Future] = {}
_FAILED: OrderedDict[str, tuple[float, BaseException]] = OrderedDict()
_BREAKS: OrderedDict[str, int] = OrderedDict()  # worker deaths while tracing a key
# Ours, for a shared classroom server: at most 8 traces queued for the one worker (each takes seconds; a
# class exploring more combinations at once waits for a free place, polling); 8 failures remembered; a
# failure answered for 60 s (every open poller of it sees the error; a passing failure heals within a
# minute, like the fit workers' retry, lora_ui/fit_runner.py); a key whose trace killed the worker twice
# is refused instead of respawning workers for every poll (an out-of-memory kill would repeat).
_MAX_RUNNING = 8
_MAX_FAILED = 8
FAILED_TTL_S = 60.0
_MAX_BREAKS = 2
_FULL = object()  # _submit: the queue is full
_LOCK = threading.Lock()


def trace_in(executor) -> None:
    """Run future traces in `executor` (a concurrent.futures.Executor; None: in this process)."""
    global _EXECUTOR
    _EXECUTOR = executor


def executor():
    """The executor traces run in (None: this process)."""
    return _EXECUTOR


def request(config: dict, spec, setup: TrainingSetup) -> bool:
    """Ask for the live-bytes model of these inputs without waiting: True when `live_model` would answer at
    once (cached, or its trace failed and it will raise), False while it is being traced elsewhere.

    With an executor set, a missing model is submitted once (later calls see the same trace in flight);
    without one (the CLI, plain tests) it is traced here and now, so the answer is always True."""
    return request_key(_key(config, spec, setup))


def _failure(key: str) -> BaseException | None:
    """The error of a recent failed trace of `key` (caller holds _LOCK); an expired one is forgotten."""
    entry = _FAILED.get(key)
    if entry is None:
        return None
    failed_at, exc = entry
    if time.monotonic() - failed_at > FAILED_TTL_S:
        del _FAILED[key]
        return None
    return exc


def _fail(key: str, exc: BaseException) -> None:
    """Remember a failed trace (caller holds _LOCK)."""
    _FAILED[key] = (time.monotonic(), exc)
    _FAILED.move_to_end(key)
    while len(_FAILED) > _MAX_FAILED:
        _FAILED.popitem(last=False)


def request_key(key: str) -> bool:
    with _LOCK:
        if key in _DONE or _failure(key) is not None:
            return True
        if key in _RUNNING:
            return False
    if _EXECUTOR is None:
        _live_model(key)
        return True
    future = _submit(key, bounded=True)
    if future is _FULL:
        return False  # the queue is full: asked again on the caller's next poll
    return future is None  # None: no worker to be had, so `live_model` traces here (the old path)


def _submit(key: str, *, bounded: bool = False):
    """Start the trace of `key` in the executor (once): its Future; None when the executor cannot take it;
    _FULL when `bounded` and _MAX_RUNNING traces are queued already (checked under the same lock)."""
    from concurrent.futures import BrokenExecutor

    executor = _EXECUTOR
    if executor is None:
        return None
    with _LOCK:
        if key in _RUNNING:
            return _RUNNING[key]
        if bounded and len(_RUNNING) >= _MAX_RUNNING:
            return _FULL
        try:
            future = executor.submit(fit_live_model, key)
        except (BrokenExecutor, RuntimeError) as exc:  # no worker to be had (RuntimeError: shut down)
            _log.warning("trace worker unavailable (%r): tracing in this process", exc)
            return None
        _RUNNING[key] = future
    future.add_done_callback(lambda f, k=key: _collect(k, f))
    return future


def _broke(key: str) -> None:
    """The worker died while tracing `key` (caller holds _LOCK): after _MAX_BREAKS, refuse the key."""
    from lora_core.errors import LoraLabError

    _BREAKS[key] = _BREAKS.get(key, 0) + 1
    _BREAKS.move_to_end(key)
    while len(_BREAKS) > _MAX_FAILED:
        _BREAKS.popitem(last=False)
    if _BREAKS[key] >= _MAX_BREAKS:
        del _BREAKS[key]
        _fail(
            key,
            LoraLabError(
                "the trace worker stopped twice while tracing this model (out of memory?); try a smaller config"
            ),
        )


def _collect(key: str, future: Future) -> None:
    """A submitted trace ended: keep its model (or its error), whoever asked for it is still waiting or not."""
    from concurrent.futures import BrokenExecutor, CancelledError

    try:
        model = future.result()
    except CancelledError:  # stopped before it ran (the pool shut down): the next ask submits it again
        with _LOCK:
            if _RUNNING.get(key) is future:
                del _RUNNING[key]
        return
    except BrokenExecutor:  # the worker died: the next ask tries once more, then the key is refused
        with _LOCK:
            if _RUNNING.get(key) is future:
                del _RUNNING[key]
                _broke(key)
        return
    except Exception as exc:  # the trace's own error (a bad architecture): every estimate raises it
        with _LOCK:
            if _RUNNING.get(key) is future:
                del _RUNNING[key]
            _fail(key, exc)
        return
    _store(key, model, future)


def _store(key: str, model: LiveModel, future: Future | None = None) -> None:
    with _LOCK:
        if future is not None and _RUNNING.get(key) is future:
            del _RUNNING[key]
        _DONE[key] = model
        _DONE.move_to_end(key)
        while len(_DONE) > _CACHE:
            _DONE.popitem(last=False)


def _live_model(key: str) -> LiveModel:
    """The cached model of `key`; a recent trace error raised again; otherwise wait for its trace (in flight
    or submitted now) or trace here."""
    from concurrent.futures import BrokenExecutor, CancelledError

    with _LOCK:
        if key in _DONE:
            _DONE.move_to_end(key)
            return _DONE[key]
        failed = _failure(key)
        future = _RUNNING.get(key)
    if failed is not None:  # every reader of a failed key sees its error (not only the first)
        raise failed
    if future is None:
        future = _submit(key)
    if future is not None:
        try:
            model = future.result()
        except (BrokenExecutor, CancelledError) as exc:  # the worker died mid-trace (killed, out of memory)
            _log.warning("trace worker died (%r): tracing in this process", exc)
        except Exception as exc:
            with _LOCK:
                _fail(key, exc)
            raise
        else:
            _store(key, model, future)
            return model
    try:
        model = fit_live_model(key)
    except Exception as exc:
        with _LOCK:
            _fail(key, exc)
        raise
    _store(key, model)
    return model


def clear_cache() -> None:
    """Forget every fitted model, failed trace and trace in flight (tests; one still running is kept when
    it ends, but a new ask submits it again)."""
    with _LOCK:
        _DONE.clear()
        _FAILED.clear()
        _RUNNING.clear()
        _BREAKS.clear()


def fit_live_model(key: str) -> LiveModel:
    """Trace and fit the live-bytes model for a cache key of `_key` (runs in a worker process or here)."""

    data = json.loads(key)
    config = data["config"]
    setup = TrainingSetup(**data["setup"])
    spec = spec_from_dict(data["spec"])
    points = _POINTS_FULL if setup.method == "full" else _POINTS
    a = np.stack([basis(b, s, r) for b, s, r in points])  # (points, terms)
    cols = 6 if setup.method == "full" else _TERMS
    lives, grads, fwds = [], [], []
    for layers in _LAYERS:
        cfg = recipe.with_layers(config, layers)
        traces: dict[tuple, Trace] = {}
        for r in sorted({p[2] for p in points}):
            model = recipe.build_training_model(cfg, recipe.with_rank(spec, r) if spec else None, setup)
            for b, s, rr in points:
                if rr == r:
                    traces[(b, s, r)] = trace_step(model, setup, b, s)
        ordered = [traces[p] for p in points]
        n = len(ordered[0].live)
        if any(len(t.live) != n or t.forward_end != ordered[0].forward_end for t in ordered):
            raise RuntimeError("traced op sequences differ between shapes; cannot fit")
        fit = []
        for field in ("live", "grads"):
            y = np.stack([getattr(t, field) for t in ordered])  # (points, ops)
            design = a[:, :cols]
            scale = np.abs(design).max(axis=0)  # column scaling: 1 and b*s^2 differ by 10^3
            sol = np.linalg.solve(design / scale, y) / scale[:, None]  # (cols, ops): as many shapes as terms
            coef = np.zeros((n, _TERMS))
            # Every term counts whole bytes per element (e.g. 2*b*s*h for a bf16 (B, S, H) tensor), so the
            # exact coefficients are integers; rounding removes the solver's floating-point noise, which
            # b*s^2 would otherwise amplify at long sequences. The tests check an untraced shape exactly.
            coef[:, :cols] = np.round(sol.T)
            fit.append(coef)
        lives.append(fit[0])
        grads.append(fit[1])
        fwds.append(ordered[0].forward_end)
    return LiveModel(tuple(lives), tuple(grads), tuple(fwds), recipe.layer_count(config))
