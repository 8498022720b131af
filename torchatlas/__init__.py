"""torchatlas: a map of the PyTorch source."""
__version__ = "0.1.0"
