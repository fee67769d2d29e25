"""Root pytest configuration: the public alias modules replace themselves in ``sys.modules`` by the module
they name (e.g. ``odeflow/theory.py`` is ``odeflow.studies.theory``), so the doctest collector must not
import them a second time under their own file name; their targets are collected where they live."""

collect_ignore = ["odeflow/theory.py", "odeflow/convergence.py", "odeflow/metrics.py", "odeflow/persistence.py", "odeflow/approximation.py",
                  "odeflow/cli.py", "odeflow/__main__.py"]
