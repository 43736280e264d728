"""``python -m services`` is the ``delivery-center`` command."""

from services.cli import main

main()
