"""``python -m odeflow``: the ``odeflow`` command."""

from odeflow.app.cli import main

raise SystemExit(main())
