"""Server-side scheduling: the one place in LoRA Lab that starts processes or threads to run core work.

- process: the worker-process helper (spawn, nice, one torch thread, parent watch, a pool whose idle
  workers quit and which falls back to the server when none can start; PoolRunner, what both runners share);
- fit_worker: what runs inside a fit worker, and the messages on its pipe;
- fit: the fit runner: at most LORA_LAB_MAX_FITS fits at once, the queue and its positions, cancel (Stop,
  a session that went away, the job cap), the thread fallback.
- replay_worker: what runs inside a replay worker (no torch), and the messages on its pipe;
- replay: the Memory page's caching-allocator replays in worker processes, off the server's interpreter lock
  (one job per key in flight, the server itself as the fallback).

lora_core computes and returns; it never imports this package. Nothing here is imported by a spawned
worker but process, fit_worker and replay_worker, which import neither streamlit nor a page.
"""
