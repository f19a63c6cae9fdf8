"""Session fixtures for the browser tests: a trained model file, JupyterLab, Voilà, Chromium."""
from __future__ import annotations

import pytest

from .servers import (explorer_notebook, launch_chromium, missing_requirements, start_lab, start_voila,
                      train_model)

_MISSING = missing_requirements()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            if _MISSING:
                item.add_marker(pytest.mark.skip(reason=f"browser tests need Chromium + Playwright: {_MISSING}"))


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("model") / "digits_mlp.pt")


VOILA_EXTRA = (
    "from IPython.display import display\n"
    "pairs = slt_widgets.ConfusionPairs(model, dataset, '3', '5')\n"
    "summary = slt_widgets.LayerSummary(model, dataset, node_samples=400, max_train=900, max_eval=900)\n"
    "display(explorer, pairs, summary)\n"
)


def _explorer_server(tmp_path_factory, model_file, app: str):
    """A JupyterLab (``app="notebook"``: Notebook 7) server whose root holds ``explorer.ipynb``
    (an Explorer of the digits MLP on class 3); stopped when the fixture ends."""
    root = tmp_path_factory.mktemp(f"{app}_root")
    explorer_notebook(root / "explorer.ipynb", model_file, cls="3")
    server = start_lab(root, tmp_path_factory.mktemp(f"{app}_env"), app=app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, model_file):
    yield from _explorer_server(tmp_path_factory, model_file, "jupyterlab")


@pytest.fixture(scope="module")
def notebook7_server(tmp_path_factory, model_file):
    yield from _explorer_server(tmp_path_factory, model_file, "notebook")


@pytest.fixture(scope="session")
def voila_server(tmp_path_factory, model_file):
    root = tmp_path_factory.mktemp("voila_root")
    nb = explorer_notebook(root / "dashboard.ipynb", model_file, cls="3", extra=VOILA_EXTRA)
    server = start_voila(nb, tmp_path_factory.mktemp("voila_env"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_session():
    """The one Playwright of the session: its sync API cannot be started a second time while it
    runs, so every browser (the shared one, the fake-microphone one) is launched from it."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory, playwright_session):
    ctx = launch_chromium(playwright_session, tmp_path_factory.mktemp("chromium_profile"))
    yield ctx
    ctx.close()


@pytest.fixture()
def page(browser_context):
    pg = browser_context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    pg.close()
