"""``python -m monitor`` is ``dcmon``."""

import sys

from monitor.cli import main

sys.exit(main())
