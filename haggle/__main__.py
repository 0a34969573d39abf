"""`python -m haggle` runs the `haggle` command (the pipeline calls its stages this way)."""

import sys

from haggle.cli import main

sys.exit(main())
