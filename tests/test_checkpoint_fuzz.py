"""Fuzzing the checkpoint loader (issue 15): byte flips, truncations and scrambles of a real
checkpoint never give a raw error, never load a different model without a word, and never
allocate more than 200 MB; a tiny file whose spec claims huge layers is refused at once.

The loads run in a fresh interpreter (tests/checkpoint_fuzz_worker.py) so that ``ru_maxrss``
(the process's peak resident memory) measures what they added: a loader that built the modules a
lying spec describes (12000-wide layers: ~1.9 GB) fails the bound.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 200


def _worker(tmp_path, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "checkpoint_fuzz_worker.py"), str(tmp_path), *args],
                       capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_damaged_checkpoints_are_refused_or_identical_and_cheap(tmp_path):
    res = _worker(tmp_path)
    assert res["cases"] > 2000 and res["refused"] > 1000
    assert res["bad"] == [], res["bad"][:20]
    assert res["peak_mb"] < LIMIT_MB, res


def test_a_spec_claiming_huge_layers_is_refused_without_allocating(tmp_path):
    res = _worker(tmp_path, "spec-lie", "12000")
    assert res["cases"] == 1 and res["refused"] == 1 and res["bad"] == []
    assert res["peak_mb"] < LIMIT_MB, res
