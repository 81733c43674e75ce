"""``python -m dockwright``: the same as the ``dockwright`` command."""

from dockwright.cli.main import main

main()
