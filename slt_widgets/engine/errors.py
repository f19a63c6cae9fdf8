"""Exceptions with messages that say what went wrong and how to fix it.

Every error the engine raises on purpose is an :class:`SLTInputError` (a ``ValueError``), so one
``except SLTInputError`` catches them all; :class:`UnsupportedModelError` is a ``TypeError`` too.
"""

__all__ = ["SLTInputError", "UnsupportedModelError", "ChainMismatchError", "SLTFallbackWarning",
           "SLTTypeError", "SLTIndexError", "SLTLayerError"]


class SLTInputError(ValueError):
    """The input tensor, layer, node selection or model is not usable."""


class UnsupportedModelError(SLTInputError, TypeError):
    """The model contains a module or structure the engine cannot linearise."""


class SLTTypeError(SLTInputError, TypeError):
    """An argument of the wrong kind (a model that is not an ``nn.Module``, data that cannot be streamed)."""


class SLTIndexError(SLTInputError, IndexError):
    """A sample or node index outside its range."""


class SLTLayerError(SLTInputError, KeyError):
    """A layer the model does not have (also a ``KeyError``: a layer is looked up by its name)."""

    def __str__(self) -> str:            # the message as written, not KeyError's quoted repr
        return str(self.args[0]) if self.args else ""


class ChainMismatchError(SLTInputError):
    """The chain reading of a model does not reproduce the model's real output (the message names
    the first module whose output differs, and the hooks found on it)."""


class SLTFallbackWarning(UserWarning):
    """The fast chain reading disagreed with the model's real output; the general path was used."""
