"""``python -m mc``: the vfsmc command line."""

from mc.cli.main import main

main()
