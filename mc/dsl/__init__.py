"""The language kernel operations are written in."""
