"""LoRA Lab core: the arithmetic and torch work behind the app and the CLI.

Pure Python + torch + transformers. Never imports streamlit or plotly, never prints,
returns dataclasses. Errors a user can fix are raised as `LoraLabError`.
"""

from lora_core.errors import LoraLabError

__all__ = ["LoraLabError"]
__version__ = "0.1.0"
