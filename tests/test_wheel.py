"""The built wheel carries the package data: demo nets and splits, widget ES modules and CSS."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="the test extra installs hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True)
    (whl,) = out.glob("slt_widgets-*.whl")
    return zipfile.ZipFile(whl)


def test_wheel_contains_widget_static_files(wheel):
    names = set(wheel.namelist())
    static = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "slt_widgets/widgets/static").glob("*")
                    if p.suffix in (".js", ".css"))
    assert static, "no ES modules found in the source tree"
    missing = [s for s in static if s not in names]
    assert not missing, f"static files missing from the wheel: {missing}"


def test_wheel_contains_the_demo_data(wheel):
    names = set(wheel.namelist())
    data = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "slt_widgets/data").rglob("*") if p.is_file())
    assert any(n.endswith((".pt", ".npz")) for n in data), "slt_widgets/data holds no demo nets or splits"
    missing = [d for d in data if d not in names]
    assert not missing, f"package data missing from the wheel: {missing}"
    size = sum(wheel.getinfo(n).file_size for n in names if n.startswith("slt_widgets/data/"))
    assert size <= 40 * 2**20, f"package data is {size / 2**20:.1f} MB, over the 40 MB budget"
