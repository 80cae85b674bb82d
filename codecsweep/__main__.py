"""``python -m codecsweep`` is the ``codecsweep`` command."""

import sys

from codecsweep.cli import main

sys.exit(main())
