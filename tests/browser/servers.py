"""JupyterLab / Voilà servers, test notebooks, Chromium and a second kernel client.

Shared by ``tests/browser`` (pytest fixtures in conftest.py) and ``benchmarks/bench_widgets.py``.
Follows /work/shared/notes/browser-testing.md: isolated config/runtime dirs, OS-chosen ports,
``--allow-root`` only as root, Debian Chromium with a fresh persistent profile.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "Debian chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed (pip install playwright)"
    for mod in ("jupyterlab", "voila", "jupyter_client"):
        try:
            __import__(mod)
        except ImportError:
            return f"{mod} is not installed"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- notebooks
MODEL_SCRIPT = r"""
import torch
from torch import nn
from slt_widgets.datasets import load_digits_dataset
ds = load_digits_dataset("all")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
x, y = torch.from_numpy(ds.features), torch.from_numpy(ds.labels)
opt = torch.optim.Adam(model.parameters(), 1e-2)
for _ in range(120):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
from slt_widgets.models import save_checkpoint
save_checkpoint(OUT, model.eval(), ds.class_names, ds.feature_shape)
"""


def train_model(path: Path) -> Path:
    """Train the small digits MLP the notebooks load (a few seconds), saved with ``save_checkpoint``."""
    code = MODEL_SCRIPT.replace("OUT", repr(str(path)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=kernel_env(), timeout=300)
    return path


def explorer_notebook(path: Path, model_path: Path, cls: str = "3", extra: str = "") -> Path:
    """Write a notebook (with kernelspec metadata) that builds ``explorer`` for the digits MLP and
    displays it (or runs ``extra``, which then does the displaying)."""
    src = (
        "import torch, slt_widgets, slt_widgets.models\n"
        "from slt_widgets.datasets import load_digits_dataset\n"
        f"model, _info = slt_widgets.models.load_checkpoint({str(model_path)!r})\n"
        "dataset = load_digits_dataset('all')\n"
        f"explorer = slt_widgets.Explorer(model, dataset, cls={cls!r})\n"
        + (extra or "explorer"))
    return one_cell_notebook(path, src)


def one_cell_notebook(path: Path, src: str) -> Path:
    """Write a notebook of one unexecuted code cell ``src`` (id ``build``) with kernelspec metadata."""
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}},
          "cells": [{"cell_type": "code", "id": "build", "metadata": {}, "execution_count": None,
                     "outputs": [], "source": src}]}
    path.write_text(json.dumps(nb, indent=1))
    return path


def kernel_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("OMP_NUM_THREADS", "1")       # the machine is shared: one core per kernel
    env.update(extra or {})
    return env


# ------------------------------------------------------------------------------ servers
class Server:
    """A running Jupyter server process with its base URL, token and runtime dir."""

    def __init__(self, proc, url, token, runtime_dir, kind, log_path):
        self.proc, self.url, self.token, self.runtime_dir, self.kind = proc, url, token, runtime_dir, kind
        self.log_path = log_path

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text()[-4000:]
        except OSError:
            return ""

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}",
                                     method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        try:
            if self.kind == "lab":
                self.api("/api/shutdown", "POST")      # shuts kernels down cleanly
                self.proc.wait(timeout=15)
            else:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=15)
        except Exception:  # noqa: BLE001 — last resort: kill our own child only
            self.proc.kill()
            self.proc.wait(timeout=10)


def _wait_port(proc, port: int, log_path, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"server did not open port {port} in {timeout:.0f} s:\n{Path(log_path).read_text()[-3000:]}")


def _isolated_env(tmp: Path, theme: str | None = None) -> dict:
    for d in ("config", "runtime", "data", "ws", "settings"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    notif = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                        "checkForUpdates": False}))
    nbset = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    nbset.mkdir(parents=True, exist_ok=True)
    (nbset / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    if theme is not None:            # "JupyterLab Dark", "JupyterLab Light"
        themes = tmp / "settings" / "@jupyterlab" / "apputils-extension"
        (themes / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    return kernel_env({"JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
                       "JUPYTER_DATA_DIR": str(tmp / "data"),       # its own notary (trusted notebooks)
                       "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
                       "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "ws")})


def start_lab(root: Path, tmp: Path, theme: str | None = None, app: str = "jupyterlab") -> Server:
    """Start JupyterLab (``app="notebook"``: Notebook 7) serving ``root``; isolated
    config/runtime/settings under ``tmp``; ``theme`` e.g. ``"JupyterLab Dark"``."""
    env = _isolated_env(tmp, theme)
    port, token = free_port(), secrets.token_hex(16)
    cls = "LabApp" if app == "jupyterlab" else "JupyterNotebookApp"
    cmd = [sys.executable, "-m", app, "--no-browser", f"--port={port}",
           f"--IdentityProvider.token={token}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", f"--{cls}.expose_app_in_browser=True",
           f"--{cls}.workspaces_dir={tmp / 'ws'}", f"--{cls}.user_settings_dir={tmp / 'settings'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / "lab.log"
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    _wait_port(proc, port, log_path)
    return Server(proc, f"http://127.0.0.1:{port}", token, tmp / "runtime", "lab", log_path)


def start_voila(notebook: Path, tmp: Path, extra_args: list[str] | None = None) -> Server:
    """Start Voilà on one notebook; it runs the cells itself when the page opens (``extra_args``:
    more command-line options, e.g. kernel culling)."""
    env = _isolated_env(tmp)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", f"--Voila.token={token}", f"--Voila.connection_dir_root={tmp / 'runtime'}",
           *(extra_args or [])]
    log_path = tmp / "voila.log"
    proc = subprocess.Popen(cmd, cwd=notebook.parent, env=env, stdout=open(log_path, "w"),
                            stderr=subprocess.STDOUT)
    _wait_port(proc, port, log_path)
    return Server(proc, f"http://127.0.0.1:{port}", token, tmp / "runtime", "voila", log_path)


# ------------------------------------------------------------------------- kernel client
def connection_files(runtime_dir: Path) -> list[Path]:
    return sorted(Path(runtime_dir).rglob("kernel-*.json"), key=lambda p: p.stat().st_mtime)


def kernel_client(server: Server, kernel_id: str | None = None):
    """A ``BlockingKernelClient`` on the (newest, or ``kernel_id``'s) kernel of ``server``."""
    from jupyter_client import BlockingKernelClient
    files = connection_files(server.runtime_dir)
    if kernel_id is not None:
        files = [f for f in files if kernel_id in f.name]
    if not files:
        raise RuntimeError(f"no kernel connection file under {server.runtime_dir}")
    kc = BlockingKernelClient()
    kc.load_connection_file(str(files[-1]))
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    return kc


def kernel_eval(kc, code: str, timeout: float = 30.0) -> str:
    """Run ``code`` on the kernel and return its stdout (raises with the traceback on error)."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg):
        t, c = msg["header"]["msg_type"], msg["content"]
        if t == "stream" and c.get("name") == "stdout":
            out.append(c["text"])
        elif t == "error":
            errors.append("\n".join(c.get("traceback", [])) or c.get("evalue", ""))

    kc.execute_interactive(code, output_hook=hook, timeout=timeout, store_history=False)
    if errors:
        raise RuntimeError(f"kernel error running {code!r}:\n{errors[0]}")
    return "".join(out)


# -------------------------------------------------------------------------------- browser
def launch_chromium(playwright, profile_dir: Path, width: int = 1500, height: int = 1300):
    """Persistent Chromium context (Debian binary, flags from the notes) on a fresh profile."""
    return playwright.chromium.launch_persistent_context(
        user_data_dir=str(profile_dir), executable_path=shutil.which("chromium"), headless=True,
        args=CHROMIUM_FLAGS, viewport={"width": width, "height": height})
