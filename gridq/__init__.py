"""GridQ: cost-minimising behind-the-meter battery dispatch for one site."""

__version__ = "0.1.0"
