"""`python -m ufm ...`: the command line."""

import sys

from ufm.cli import run

sys.exit(run())
