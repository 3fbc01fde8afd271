"""``python -m agents`` is ``dcmon-agent``."""

import sys

from agents.cli import main

sys.exit(main())
