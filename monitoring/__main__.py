"""``python -m monitoring``: see ``monitoring.cli``."""

from monitoring.cli import main

raise SystemExit(main())
