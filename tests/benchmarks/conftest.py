"""The benchmark scripts are not installed: put the repository root on the import path, as the learning study
does for its GRPO subprocess (PYTHONPATH=ROOT), so the tests import `benchmarks.learning_study` by that name."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
