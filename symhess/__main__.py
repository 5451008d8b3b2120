"""``python -m symhess`` is the ``symhess`` command line."""

import sys

from .cli import main

sys.exit(main())
