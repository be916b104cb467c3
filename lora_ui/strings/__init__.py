"""String tables, one module per area. Each module defines `EN` and `TE`: dict[str, str] with the same keys.

Keys are looked up as "<area>.<key>", e.g. tr("matrix.title"). Placeholders use str.format: "{rank}".
Technical terms (LoRA, GPU, PEFT, QLoRA, DoRA, AdamW, GiB, ...) stay in Latin script in the Telugu table.
"""

AREAS = ("common", "learn", "matrix", "model", "memory", "fit", "family", "errors")
