"""The Explorer in marimo: `marimo run notebooks/marimo_explorer.py` (or `marimo edit …`).

marimo renders anywidgets (`mo.ui.anywidget`) but not ipywidgets containers or bqplot, so this
app shows the Explorer's own views piece by piece: the cluster tree and the templates live (a click
on a tree cluster redraws the templates through the Explorer's links), the class and layer
pickers as marimo dropdowns, and the embedding and the spectra as the views' static pictures,
redrawn on every selection. Nothing here is a second implementation of a view: every number and
picture comes from the same `slt_widgets.Explorer`.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import html

    import marimo as mo

    import slt_widgets as sw

    model, dataset = sw.load_demo("small", "eval")   # the demo network and its held-out speech (no download)
    explorer = sw.Explorer(model, dataset, cls="T", max_samples=800)
    layers = [f"HL{i}" for i in range(1, explorer.chain.n_hidden + 1)] + ["output"]
    return dataset, explorer, html, layers, mo


@app.cell
def _(dataset, layers, mo):
    class_picker = mo.ui.dropdown(options=list(dataset.class_names), value="T", label="class")
    layer_picker = mo.ui.dropdown(options=layers, value="output", label="layer")
    return class_picker, layer_picker


@app.cell
def _(class_picker, explorer, layer_picker, mo):
    # a new class or layer: a new tree, templates of the whole class
    explorer.select(cls=class_picker.value, layer=layer_picker.value)
    tree = mo.ui.anywidget(explorer.tree)
    templates = mo.ui.anywidget(explorer.templates)
    return templates, tree


@app.cell
def _(explorer, html, mo, tree):
    # re-runs when the tree's synced state changes in the browser (a click, a dragged cut); the
    # Explorer has already redrawn the templates from its own observer of `tree.selected`
    _ = tree.value
    s = explorer.selection
    what = "the whole class" if s.cluster is None else f"cluster {s.cluster}"
    status = mo.Html("<p class='slt-marimo-status' aria-live='polite'>" + html.escape(
        f"{s.cls} · {s.layer_name} node {s.node} · {what}: {s.n} frames · "
        f"{explorer.tree.n_clusters} clusters at cut {s.cut:.3g}") + "</p>")
    pictures = mo.hstack([mo.image(explorer.embedding.to_bytes(90), alt=f"embedding of {s.cls}, {what}"),
                          mo.image(explorer.spectra.to_bytes(90), alt=f"SLT spectra of {s.cls}, {what}")],
                         justify="start")
    return pictures, status


@app.cell
def _(class_picker, layer_picker, mo, pictures, status, templates, tree):
    mo.vstack([mo.hstack([class_picker, layer_picker], justify="start"), status,
               mo.hstack([tree, templates], justify="start", align="start"), pictures])
    return


if __name__ == "__main__":
    app.run()
