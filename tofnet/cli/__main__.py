"""Allow `python -m tofnet.cli` (and torchrun -m tofnet.cli)."""
import sys

from tofnet.cli import main

sys.exit(main())
