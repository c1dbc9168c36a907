"""``python -m linkwatch`` runs the command line."""

import sys

from linkwatch.cli import main

sys.exit(main())
