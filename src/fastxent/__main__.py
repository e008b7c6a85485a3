"""``python -m fastxent``: the command line (see ``fastxent.cli``)."""

import sys

from fastxent.cli import main

sys.exit(main())
