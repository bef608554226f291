"""`python -m ufm ...`: the command line."""

import sys

from ufm.cli import main

sys.exit(main())
