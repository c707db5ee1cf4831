"""``python -m model_card [--output DIR]``: write the current version's model card."""

from model_card.cli import main

raise SystemExit(main())
