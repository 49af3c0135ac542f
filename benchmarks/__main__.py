"""``python -m benchmarks``: every figure, one table (see benchmarks/suite.py and README)."""

import sys

from benchmarks.suite import main

sys.exit(main())
