"""``python -m consortium_bench --bench NAME|all [--out var/bench]``; see :mod:`.cli`."""

import sys

from consortium_bench.cli import main

sys.exit(main())
