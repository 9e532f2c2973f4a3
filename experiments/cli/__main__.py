"""``python -m experiments.cli``: the same as the ``coherence-sim`` command."""

import sys

from . import main

sys.exit(main())
