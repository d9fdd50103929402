"""The ``vfsmc`` command line."""
