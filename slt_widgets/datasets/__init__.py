"""Datasets: `FrameDataset`, the built-in digits set, the speech corpus builder and loaders."""
from .frames import FrameDataset, splice
from .digits import load_digits_dataset

__all__ = ["FrameDataset", "splice", "load_digits_dataset"]
