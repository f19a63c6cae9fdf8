"""`mlp(...)`: the paper's ReLU multilayer perceptron as a plain ``nn.Sequential``.

Layout per hidden layer: ``Linear → [BatchNorm1d] → ReLU → [Dropout]``; with ``dropout > 0`` the
input is dropped out too (the paper's wide net: 20 % on the input and hidden layers). The output
layer is linear (softmax lives in the loss). A plain ``Sequential`` of standard modules is what the
SLT engine reads, and the architecture round-trips through :func:`spec_of` / :func:`mlp_from_spec`.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

__all__ = ["mlp", "spec_of", "mlp_from_spec"]


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be a positive int, got {value!r} ({type(value).__name__})")
    v = int(value)
    if v <= 0:
        raise ValueError(f"{what} must be a positive int, got {v}")
    return v


def mlp(d_in: int, hidden: Sequence[int] = (256,) * 5, d_out: int = 40, batch_norm: bool = False,
        dropout: float = 0.0) -> nn.Sequential:
    """Build a ReLU MLP mapping ``[n, d_in]`` inputs to ``[n, d_out]`` logits.

    d_in: input features ``F`` (253 = 23 bands × 11 frames for speech); hidden: widths of the
    hidden layers ``(d_1, …, d_L)`` (the paper: 5 × 256, or 5 × 2048 with regularisation);
    d_out: classes ``K``; batch_norm: a ``BatchNorm1d`` between each hidden Linear and its ReLU;
    dropout: probability in ``[0, 1)`` applied to the input and after every hidden ReLU.
    Hidden layer ``k`` of the SLT engine is the output of the ``k``-th ReLU.
    """
    d_in = _positive_int(d_in, "d_in")
    d_out = _positive_int(d_out, "d_out")
    if isinstance(hidden, (int, str)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of layer widths such as (256,) * 5, got {hidden!r}")
    widths = [_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)]
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    dropout = float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    prev = d_in
    for w in widths:
        layers.append(nn.Linear(prev, w))
        if batch_norm:
            layers.append(nn.BatchNorm1d(w))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        prev = w
    layers.append(nn.Linear(prev, d_out))
    return nn.Sequential(*layers)


def mlp_from_spec(spec: dict) -> nn.Sequential:
    """Rebuild a model from the plain dict written by :func:`spec_of` (keys as :func:`mlp`'s arguments)."""
    if not isinstance(spec, dict):
        raise TypeError(f"an architecture spec is a dict of mlp() arguments, got {type(spec).__name__}")
    known = {"d_in", "hidden", "d_out", "batch_norm", "dropout"}
    unknown = set(spec) - known
    if unknown or not {"d_in", "hidden", "d_out"} <= set(spec):
        raise ValueError(f"architecture spec must have keys d_in, hidden, d_out (optional batch_norm, dropout); "
                         f"got {sorted(spec)}")
    return mlp(spec["d_in"], tuple(spec["hidden"]), spec["d_out"], bool(spec.get("batch_norm", False)),
               float(spec.get("dropout", 0.0)))


def spec_of(model: nn.Module) -> dict:
    """The :func:`mlp` arguments that rebuild ``model`` exactly (same modules, same parameter shapes).

    Raises ``TypeError`` when ``model`` is not laid out as :func:`mlp` builds it, since only that
    layout can be stored as a plain, code-free spec.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"only models built by slt_widgets.models.mlp can be described by a spec; "
                        f"got {type(model).__name__}")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    drops = [m for m in model if isinstance(m, nn.Dropout)]
    if not linears:
        raise TypeError("model has no nn.Linear layer; build it with slt_widgets.models.mlp(...)")
    spec = {"d_in": linears[0].in_features, "hidden": [m.out_features for m in linears[:-1]],
            "d_out": linears[-1].out_features,
            "batch_norm": any(isinstance(m, nn.BatchNorm1d) for m in model),
            "dropout": float(drops[0].p) if drops else 0.0}
    try:
        ref = mlp_from_spec(spec)
    except (TypeError, ValueError) as e:
        raise TypeError(f"model is not an slt_widgets mlp ({e}); build it with slt_widgets.models.mlp(...)") from None
    same_modules = [type(m) for m in ref] == [type(m) for m in model]
    same_shapes = {k: v.shape for k, v in ref.state_dict().items()} == \
                  {k: v.shape for k, v in model.state_dict().items()}
    same_p = all(a.p == b.p for a, b in zip(drops, [m for m in ref if isinstance(m, nn.Dropout)]))
    if not (same_modules and same_shapes and same_p):
        raise TypeError("model is not laid out as slt_widgets.models.mlp builds it (Linear → [BatchNorm1d] → "
                        "ReLU → [Dropout] …, linear output); build it with mlp(...) to save a checkpoint")
    return spec
