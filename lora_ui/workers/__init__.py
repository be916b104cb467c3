"""Server-side scheduling: the one place in LoRA Lab that starts processes or threads to run core work.

- process: the worker-process helper (spawn, nice, one torch thread, parent watch, a pool that keeps its
  workers, or reaps idle ones when told to, and falls back to the server when none can start; PoolRunner,
  what the runners share);
- fit_worker: what runs inside a fit worker, and the messages on its pipe;
- fit: the fit runner: at most LORA_LAB_MAX_FITS fits at once, the queue and its positions, cancel (Stop,
  a session that went away, the job cap), the thread fallback.
- jobs: one job, one answer in a worker (the loop a replay or trace worker runs, and JobRunner: one job per
  key in flight, a bound per job, the fallback), what the replay and trace runners share;
- replay_worker: what runs inside a replay worker (no torch);
- replay: the Memory page's caching-allocator replays in worker processes, off the server's interpreter lock
  (the server itself as the fallback);
- trace_worker: what runs inside a trace worker (torch, transformers and the presets' model classes, warmed
  before it is ready);
- trace: the Memory page's activation traces of recipes the precomputed archive lacks, in worker processes
  started with the server (the page's own thread as the fallback).

lora_core computes and returns; it never imports this package. Nothing here is imported by a spawned
worker but process, jobs, fit_worker, replay_worker and trace_worker, which import neither streamlit nor a page.
"""
