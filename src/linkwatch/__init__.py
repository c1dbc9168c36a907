"""linkwatch: tells the curator of a link list which links need a human."""

__version__ = "0.1.0"
