"""``python -m mc``: the vfsmc command line."""

from mc.cli.launch import run

run()
