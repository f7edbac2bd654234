"""biller-server: the biller side of BBPS for lenders."""

__version__ = "0.1.0"
