"""Haggle: train open-weight LLMs to negotiate bilateral trades with private information."""

__version__ = "0.1.0"
