"""Server-side scheduling: the one place in LoRA Lab that starts processes or threads to run core work.

- process: the worker-process helper (spawn, nice, one torch thread, parent watch, a pool whose idle
  workers quit);
- fit_worker: what runs inside a fit worker, and the messages on its pipe;
- fit: the fit runner: at most LORA_LAB_MAX_FITS fits at once, the queue and its positions, cancel (Stop,
  a session that went away, the job cap), the thread fallback.

lora_core computes and returns; it never imports this package. Nothing here is imported by a spawned
worker but process and fit_worker, which import neither streamlit nor a page.
"""
