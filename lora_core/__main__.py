import sys

from lora_core.cli import main

raise SystemExit(main(sys.argv[1:]))
