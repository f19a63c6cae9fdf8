"""How a measured trend is judged against the paper's claim (the rule is printed in the report)."""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

__all__ = ["depth_trend", "all_positive", "RULE"]

RULE = ("A depth trend 'holds' when Spearman's ρ between layer depth and the value is ≥ 0.7 in the "
        "claimed direction, 'holds partly' when 0 < ρ < 0.7, and 'does not hold' otherwise; a sign claim "
        "holds when it is true in every layer and partly when in some.")


def depth_trend(values, increasing: bool = True) -> tuple[float, str]:
    """(ρ in the claimed direction, verdict) for ``values [L]`` ordered by depth."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return float("nan"), "not measured (fewer than 3 layers with a value)"
    if np.ptp(v[ok]) == 0:
        return 0.0, "does not hold (constant over depth)"
    rho = float(spearmanr(np.flatnonzero(ok), v[ok])[0]) * (1 if increasing else -1)
    return rho, "holds" if rho >= 0.7 else ("holds partly (not monotone)" if rho > 0 else "does not hold")


def all_positive(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return "not measured"
    n = int((v > 0).sum())
    return "holds" if n == len(v) else (f"holds partly ({n} of {len(v)} layers)" if n else "does not hold")
