"""``python -m policygrad.cli ARGS``: the ``policygrad`` command."""

import sys

from . import main

sys.exit(main())
