"""tractui: track named groups of Linux processes and every descendant they fork."""

__version__ = "0.1.0"
