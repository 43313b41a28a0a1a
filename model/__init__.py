"""The Switch-Transformer language model (PyTorch).  The only package that imports torch."""
