"""Allow `python -m ttdf.cli` (and torchrun -m ttdf.cli)."""
import sys

from ttdf.cli import main

sys.exit(main())
