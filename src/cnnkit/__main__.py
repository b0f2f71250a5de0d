"""``python -m cnnkit`` runs the command line (also how torchrun launches it)."""

from cnnkit.cli.main import main

main()
