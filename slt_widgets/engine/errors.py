"""Exceptions with messages that say what went wrong and how to fix it."""

__all__ = ["UnsupportedModelError", "SLTInputError"]


class UnsupportedModelError(TypeError):
    """The model contains a module or structure the engine cannot linearise."""


class SLTInputError(ValueError):
    """The input tensor, layer or node selection is not usable."""
