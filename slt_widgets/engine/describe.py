"""`describe(model)`: the layers the engine sees, with their numbers."""
from __future__ import annotations

from .dispatch import read_model
from .general import describe_general

__all__ = ["describe"]


def describe(model, print_it: bool = True) -> str:
    """Text listing how the engine reads ``model``: affine blocks, hidden layers HL1..HLL, output.

    Returns the text (and prints it unless ``print_it=False``).
    """
    reading = read_model(model)
    if reading.kind != "chain":       # conv nets, residual blocks …: the general path lists its traced graph
        text = describe_general(model)
        if print_it:
            print(text)
        return text
    chain = reading.chain
    lines = [f"{type(model).__name__}: {chain.n_hidden} hidden layers, "
             f"{'exact (piecewise linear)' if chain.exact else 'Jacobian linearisation (smooth activations)'}"
             f"{', read through torch.fx (fast chain path)' if chain.traced else ''}",
             f"  input    d_in={chain.d_in}"]
    for k, (name, act) in enumerate(chain.acts, start=1):
        blk = chain.blocks[k - 1]
        lines.append(f"  HL{k:<6} {' + '.join(blk.modules) or 'identity'} -> {name} ({type(act).__name__}), "
                     f"width {chain.widths[k - 1]}   layer={k}")
    last = chain.blocks[-1]
    lines.append(f"  output   {' + '.join(last.modules) or '= HL%d' % chain.n_hidden}, width {chain.d_out}"
                 "   layer='output'")
    text = "\n".join(lines)
    if print_it:
        print(text)
    return text
