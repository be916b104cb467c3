"""The one exception type a user can act on.

The CLI turns it into `error: <message>` and exit status 2; the pages show it with `st.error`.
Anything else escaping the core is a bug.
"""


class LoraLabError(ValueError):
    """Bad input: the message says what was wrong and what is allowed."""
