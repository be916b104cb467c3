"""`python -m lora_core`: run one subcommand, flush its output, and leave without tearing torch down.

After `main` returns nothing is left to clean up: the output is flushed here and no command keeps files
open. Python's normal exit would then unload every module and run torch's shutdown, which took 0.3-0.5 s
after a bare `import torch` on the 2-core machine, 0.8-1.9 s when loaded (docs/fit.md "Speed"); `os._exit`
skips it.
"""

import os
import sys

from lora_core.cli import main

code = main(sys.argv[1:])
try:
    sys.stdout.flush()
    sys.stderr.flush()
finally:
    os._exit(code)  # also when a flush fails (a closed pipe): the status is main's
