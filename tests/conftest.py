"""Shared fixtures of the widget tests: the digits set, a small MLP trained on it and an Explorer
of class 3 (module-scoped: each test module builds its own; a module may define its own instead)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def digits():
    from slt_widgets.datasets import load_digits_dataset
    return load_digits_dataset("all")


@pytest.fixture(scope="module")
def model(digits):
    from slt_widgets.reproduce import train_toy_mlp
    return train_toy_mlp(digits, hidden=(48, 32), steps=80, lr=1e-2, seed=0)


@pytest.fixture(scope="module")
def explorer(model, digits):
    from slt_widgets.widgets import Explorer
    return Explorer(model, digits, cls="3")
