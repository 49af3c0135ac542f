"""lumen: the command-line tool for the Lumen video API."""

__version__ = "0.1.0"
