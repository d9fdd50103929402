"""``python -m mc``: the vfsmc command line."""

from mc.cli import main

main()
