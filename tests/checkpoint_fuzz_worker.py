"""Subprocess worker of tests/test_checkpoint_fuzz.py: loads damaged copies of a real checkpoint and
reports, as one JSON line, every outcome that was neither a refusal (CheckpointError) nor a model
equal to the original, and the peak memory the loads added (``ru_maxrss`` after minus before).

Run as ``python tests/checkpoint_fuzz_worker.py OUT_DIR [spec-lie WIDTH]``.
"""
import json
import random
import resource
import sys
from pathlib import Path

import torch


def main() -> None:
    from slt_widgets.models import CheckpointError, load_checkpoint, mlp, save_checkpoint
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    net = mlp(6, (5, 4), 3, batch_norm=True)
    net.eval()
    good = save_checkpoint(out / "good.pt", net, ["a", "b", "c"], (2, 3), meta={"seed": 0, "acc": [0.5, 0.75]})
    ref, ref_info = load_checkpoint(good)                    # warm up torch's loader before measuring
    ref_state = {k: v.clone() for k, v in ref.state_dict().items()}
    data = good.read_bytes()
    cases = []
    if len(sys.argv) > 2 and sys.argv[2] == "spec-lie":      # a few-kB file whose spec claims huge layers
        w = int(sys.argv[3])
        p = torch.load(good, weights_only=True)
        p["spec"].update(d_in=w, hidden=[w, w])
        p.pop("sha256", None)
        torch.save(p, out / "lie.pt")
        cases.append(("spec-lie", (out / "lie.pt").read_bytes()))
    else:
        pkl_end = data.index(b".format_version")             # the pickle (structure, spec, names) comes first
        for i in range(len(data)):     # every byte of the pickle flipped, every 3rd of the tensors and zip records
            if i > pkl_end and i % 3:
                continue
            b = bytearray(data)
            mask = 0x01 if i % 2 else 0xFF
            b[i] ^= mask
            cases.append((f"flip {i} ^{mask:#x}", bytes(b)))
        for n in range(0, len(data), 5):                       # truncations
            cases.append((f"cut {n}", data[:n]))
        rng = random.Random(0)
        for j in range(200):                                   # a few bytes scrambled at once
            b = bytearray(data)
            for _ in range(rng.randint(2, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            cases.append((f"scramble {j}", bytes(b)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bad, refused, same = [], 0, 0
    path = out / "case.pt"
    for name, blob in cases:
        path.write_bytes(blob)
        try:
            m, info = load_checkpoint(path)
        except CheckpointError:
            refused += 1
            continue
        except Exception as e:  # noqa: BLE001 — this is what the test looks for
            bad.append(f"{name}: raw {type(e).__name__}: {str(e)[:120]}")
            continue
        st = m.state_dict()
        equal = (st.keys() == ref_state.keys() and all(torch.equal(st[k], ref_state[k]) for k in st)
                 and {k: info[k] for k in ("class_names", "feature_shape", "spec", "meta")}
                 == {k: ref_info[k] for k in ("class_names", "feature_shape", "spec", "meta")})
        if equal:
            same += 1
        else:
            bad.append(f"{name}: loaded a different model or metadata without a word")
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024    # ru_maxrss is in kB
    print(json.dumps({"cases": len(cases), "refused": refused, "same": same, "bad": bad, "peak_mb": peak_mb}))


if __name__ == "__main__":
    main()
