"""``python -m rlcredit.cli``: the ``rlcredit`` command."""

import sys

from rlcredit.cli import main

sys.exit(main())
