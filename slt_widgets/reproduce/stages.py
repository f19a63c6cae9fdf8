"""Every analysis of the paper on one network: measures, figures and claim rows.

Each ``stage_*`` function reads the shared context ``ctx`` (network, splits, earlier results),
writes its figures into ``out`` and returns the claim rows it can judge.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import analysis as A
from .figures import layer_label, plt, save, template_image
from .verdicts import all_positive, depth_trend

__all__ = ["Budget", "Context", "STAGES", "auto_triples"]


@dataclass(frozen=True)
class Budget:
    """Sample caps (seeded subsamples; the report lists them). None = all."""

    lda_train: int | None = 30000
    node_samples: int = 1500
    pop_per_class: int = 100
    inc_cor: int = 800
    tsne_points: int = 800
    tsne_iter: int = 1000
    slt_cluster: int = 500
    template_k: int = 50


@dataclass
class Context:
    src: object
    out: Path
    seed: int
    budget: Budget
    doc: object
    res: dict

    @property
    def tag(self) -> str:
        return self.src.name

    def fig(self, name: str) -> str:
        return f"{self.tag}_{name}"


def _cls_name(ds, k) -> str:
    return ds.class_names[int(k)]


def _find(ds, names):
    """Class indices for ``names`` or None when the dataset lacks one."""
    try:
        return [ds.class_index(n) for n in names]
    except (KeyError, ValueError):
        return None


# --------------------------------------------------------------------------- Table 1
def stage_accuracy(ctx: Context):
    m, s = ctx.src.model, ctx.src
    rows = []
    for split, ds in (("dev", s.dev), ("eval", s.eval), ("xeng", s.xeng)):
        if ds is not None:
            pred = A.predict(m, ds)
            if split == "eval":
                ctx.res["pred_eval"] = pred
            acc = float((pred == ds.labels).mean())
            rows.append([split, len(ds), acc])
            ctx.res[f"acc_{split}"] = acc
    ctx.doc.h(f"Table 1 — frame accuracy ({ctx.tag})", 3)
    ctx.doc.table(["split", "frames", "accuracy"], rows, name=ctx.fig("table1"))
    return []


# --------------------------------------------------------------------------- Table 2, Fig. 3
def stage_lda(ctx: Context):
    s, b = ctx.src, ctx.budget
    lda = A.lda_layers(s.model, s.dev, s.eval, max_train=b.lda_train, seed=ctx.seed, progress=True)
    ctx.res["lda"] = lda
    within = [A.within_class_spectra(lda.per_layer[l].projected, lda.eval_labels) for l in lda.layers]
    ctx.res["within"] = within
    evr_auc = np.array([_auc(e) for e in lda.evr])
    w_auc = np.array([w.auc for w in within])
    ctx.res["evr_auc"], ctx.res["within_auc"] = evr_auc, w_auc
    labels = [layer_label(l) for l in lda.layers]
    rows = [[lab, acc, ea, wa] for lab, acc, ea, wa in zip(labels, lda.accuracy, evr_auc, w_auc)]
    xeng_row = []
    if s.xeng is not None:
        lx = A.lda_layers(s.model, s.dev, s.xeng, max_train=b.lda_train, seed=ctx.seed)
        ctx.res["lda_xeng"] = lx.accuracy
        xeng_row = [" / ".join(f"{a:.3f}" for a in lx.accuracy)]
    ctx.doc.h(f"Table 2 / Fig. 3 — LDA per layer ({ctx.tag})", 3)
    ctx.doc.p(f"LDA (SVD solver) trained on {lda.n_train} dev frames, tested on {len(lda.eval_labels)} eval frames."
              + (f" Cross-engine (xeng) LDA accuracy per layer: {xeng_row[0]}." if xeng_row else ""))
    ctx.doc.table(["layer", "LDA accuracy", "EVR AUC", "within-class AUC"], rows, name=ctx.fig("table2"))
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    cmap = plt.get_cmap("viridis", len(labels))
    for i, lab in enumerate(labels):
        ax[0].semilogy(np.arange(1, lda.evr.shape[1] + 1), np.maximum(lda.evr[i], 1e-8), color=cmap(i), label=lab)
        ax[1].plot(np.arange(1, len(within[i].mean) + 1), within[i].mean, color=cmap(i), label=lab)
    ax[0].set(xlabel="LDA dimension", ylabel="explained variance ratio", title="A  LDA EVR")
    ax[1].set(xlabel="singular value order", ylabel="normalised σ", title="B  within-class spectra (class mean)")
    ax[0].legend(fontsize=7)
    x = np.arange(len(labels))
    ax[2].plot(x, evr_auc, "o-", label="EVR AUC")
    ax[2].plot(x, w_auc, "s-", label="within-class AUC")
    ax[2].set_xticks(x, labels)
    ax[2].set(title="C  AUC per layer", ylabel="AUC (trapezoid, σ₁ = 1)")
    ax[2].legend(fontsize=7)
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig3.png")), f"Fig. 3A–C ({ctx.tag}): LDA explained-variance ratio, "
                "class-averaged within-class spectra of LDA-projected eval activations, and their AUCs.")
    rho_a, v_a = depth_trend(lda.accuracy)
    rho_e, v_e = depth_trend(evr_auc)
    rho_w, v_w = depth_trend(w_auc, increasing=False)
    return [("Table 2", "deeper layers are more LDA-separable", _series(labels, lda.accuracy), rho_a, v_a),
            ("Fig. 3C", "EVR AUC rises with depth", _series(labels, evr_auc), rho_e, v_e),
            ("Fig. 3C", "within-class AUC falls with depth", _series(labels, w_auc), rho_w, v_w)]


def _auc(spec):
    from ..engine import auc_score
    return auc_score(spec)


def _series(labels, vals) -> str:
    return ", ".join(f"{l} {v:.3g}" for l, v in zip(labels, vals))


# --------------------------------------------------------------------------- Fig. 2
def stage_selectivity(ctx: Context):
    s = ctx.src
    nc = A.node_cluster_counts(s.model, s.eval, progress=True)
    ctx.res["clusters"] = nc
    labels = [layer_label(l) for l in nc.layers]
    show = sorted({nc.layers[0], nc.layers[len(nc.layers) // 2], nc.layers[-1]}, key=nc.layers.index)
    fig, ax = plt.subplots(1, len(show) + 1, figsize=(4.2 * (len(show) + 1), 4))
    for a, l in zip(ax, show):
        co, csv = nc.co[l], nc.csv[l]
        live = co.node_order[: co.n_live]
        mat = csv[co.class_order][:, live]
        z = (mat - mat.mean(0)) / (mat.std(0) + 1e-12)
        a.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
        names = [_cls_name(s.eval, nc.classes[i]) for i in co.class_order]
        a.set_yticks(range(len(names)), names, fontsize=5 if len(names) > 20 else 7)
        a.set_xlabel(f"live nodes ({co.n_live}, ordered by UPGMA)")
        a.set_title(f"{layer_label(l)}: {co.n_node_clusters} node clusters at 0.5", fontsize=9)
    x = np.arange(len(labels))
    a = ax[-1]
    a.plot(x, nc.n_clusters, "o-", label="clusters (raw)")
    a.set_xticks(x, labels)
    a.set_ylabel("node clusters at correlation distance 0.5")
    a2 = a.twinx()
    a2.plot(x, nc.per_live_node, "s--", color="C1", label="clusters per live node")
    a2.set_ylabel("per live node", color="C1")
    a.set_title("D  node clusters per layer")
    a.legend(loc="upper left", fontsize=7)
    ctx.doc.h(f"Fig. 2 — class selectivity ({ctx.tag})", 3)
    ctx.doc.table(["layer", "nodes", "dead", "clusters at 0.5", "clusters / live node"],
                  [[lab, w, d, c, p] for lab, w, d, c, p in zip(labels, nc.width, nc.n_dead, nc.n_clusters,
                                                                nc.per_live_node)],
                  name=ctx.fig("fig2d"))
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig2.png")), f"Fig. 2 ({ctx.tag}): z-scored class selectivity vectors "
                "(rows: classes, columns: live nodes, both in UPGMA correlation order) and node-cluster counts.")
    r1, v1 = depth_trend(nc.n_clusters)
    r2, v2 = depth_trend(nc.per_live_node)
    return [("Fig. 2D", "node clusters grow with depth (raw count)", _series(labels, nc.n_clusters), r1, v1),
            ("Fig. 2D", "node clusters grow with depth (per live node)", _series(labels, nc.per_live_node), r2, v2)]


# --------------------------------------------------------------------------- Fig. 4
def stage_tsne(ctx: Context):
    s, lda = ctx.src, ctx.res["lda"]
    hid = [l for l in lda.layers if l != "input"]
    show = sorted({hid[max(0, len(hid) // 2)], hid[-1]}, key=hid.index)
    y = lda.eval_labels
    divisor = max(10, int(np.ceil(len(y) / ctx.budget.tsne_points)))
    fig, ax = plt.subplots(1, len(show), figsize=(6 * len(show), 5.5), squeeze=False)
    for a, l in zip(ax[0], show):
        agg = A.kmeans_aggregate(lda.per_layer[l].projected, y, divisor=divisor, seed=ctx.seed)
        e = A.embed(agg.points, "tsne", seed=ctx.seed, max_iter=ctx.budget.tsne_iter)
        cmap = plt.get_cmap("tab20", max(20, len(np.unique(agg.labels))))
        for i, k in enumerate(np.unique(agg.labels)):
            m = agg.labels == k
            a.scatter(e[m, 0], e[m, 1], s=4 + 30 * agg.sizes[m] / agg.sizes.max(), color=cmap(i % 20), alpha=.6)
            c = e[m].mean(0)
            a.text(c[0], c[1], _cls_name(s.eval, k), fontsize=7, weight="bold")
        a.set_title(f"{layer_label(l)} (t-SNE of LDA-projected activations)", fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    ctx.doc.h(f"Fig. 4 — t-SNE ({ctx.tag})", 3)
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig4.png")), f"Fig. 4 ({ctx.tag}): eval frames aggregated per class "
                f"with k-means (N_k/{divisor} clusters, seed {ctx.seed}; point size ∝ cluster size)"
                + (f" — divisor raised from 10 to keep ≤ {ctx.budget.tsne_points} points" if divisor > 10 else "") + ".")
    return []


# --------------------------------------------------------------------------- Fig. 5
def auto_triples(conf) -> tuple[list, list]:
    """(dissimilar, confusable) class triples from an input-LDA confusion matrix ``[K, K]``:
    the most-confused class with its two main confusers, and the same class with the two it is
    least confused with."""
    c = conf + conf.T
    np.fill_diagonal(c, 0)
    a = int(c.sum(1).argmax())
    order = np.argsort(-c[a], kind="stable")
    conf3 = [a] + [int(i) for i in order if i != a][:2]
    dis3 = [a] + [int(i) for i in np.argsort(c[a], kind="stable") if i != a][:2]
    return dis3, conf3


def stage_expansion(ctx: Context):
    s, lda = ctx.src, ctx.res["lda"]
    y = lda.eval_labels
    net = ctx.res["pred_eval"][lda.eval_index]
    inp = lda.per_layer["input"].predictions
    cor, inc = A.split_cor_inc(y, net, inp)
    ctx.res["cor_inc"] = (lda.eval_index[cor], lda.eval_index[inc])
    K = s.eval.n_classes
    base = lda.per_layer["input"].projected
    hid = [l for l in lda.layers if l != "input"]
    proj = {l: lda.per_layer[l].projected for l in hid}
    conf_in = A.confusion_matrix(y, inp, K)
    triples, notes = [], []
    for names in (("t", "n", "s"), ("p", "t", "k")):
        idx = _find(s.eval, names)
        if idx is None:
            notes.append(f"/{' '.join(names)}/ is not in this dataset")
        triples.append(("/" + " ".join(names) + "/", idx))
    if any(t[1] is None for t in triples):
        dis3, conf3 = auto_triples(conf_in)
        auto = [("dissimilar " + "/".join(_cls_name(s.eval, k) for k in dis3), dis3),
                ("confusable " + "/".join(_cls_name(s.eval, k) for k in conf3), conf3)]
        triples = [t if t[1] is not None else auto[i] for i, t in enumerate(triples)]
        notes.append("replaced by triples chosen from the input-LDA confusion matrix")
    # Fig. 5A–C: MDS of the aggregated triple per layer
    cols = ["input"] + hid
    fig, ax = plt.subplots(3, len(cols), figsize=(2.6 * len(cols), 7.5), squeeze=False)
    panels = [(triples[0], "all"), (triples[1], "all"), (triples[1], "inc")]
    tri_res = []
    for r, ((title, cls), group) in enumerate(panels):
        m = np.isin(y, cls)
        if group == "inc":
            gm = np.zeros(len(y), bool)
            gm[inc] = True
            m &= gm
        for c, l in enumerate(cols):
            a = ax[r, c]
            pts = base if l == "input" else proj[l]
            if m.sum() >= 3 and len(np.unique(y[m])) >= 2:
                agg = A.kmeans_aggregate(pts[m], y[m], divisor=10, seed=ctx.seed, max_clusters=40)
                e = A.embed(agg.points, "mds", seed=ctx.seed)
                for i, k in enumerate(cls):
                    sel = agg.labels == k
                    if sel.any():
                        a.scatter(e[sel, 0], e[sel, 1], s=3 + 25 * agg.sizes[sel] / agg.sizes.max(), color=f"C{i}", alpha=.5)
                        cen = np.average(e[sel], axis=0, weights=agg.sizes[sel])
                        a.text(cen[0], cen[1], _cls_name(s.eval, k), fontsize=9, weight="bold")
            else:
                a.text(.5, .5, "too few samples", ha="center", transform=a.transAxes, fontsize=8)
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(layer_label(l), fontsize=9)
            if c == 0:
                a.set_ylabel(f"{'ABC'[r]}  {title}{' INC' if group == 'inc' else ''}", fontsize=8)
    ctx.doc.h(f"Fig. 5 — non-uniform expansion ({ctx.tag})", 3)
    ctx.doc.p(f"COR = {len(cor)} eval frames the net and the input LDA both classify correctly; INC = {len(inc)} "
              "frames the net gets right but the input LDA does not." + (" " + "; ".join(notes) + "." if notes else ""))
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig5abc.png")), f"Fig. 5A–C ({ctx.tag}): metric MDS of k-means aggregates "
                "(N_k/10, ≤ 40 per class) of LDA-projected activations; labels mark class centroids.")
    # 5D, 5E, 5F
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    allc = sorted(set(triples[0][1]) | set(triples[1][1]))
    sub = conf_in[np.ix_(allc, allc)].astype(float)
    sub = sub / np.maximum(sub.sum(1, keepdims=True), 1)
    ax[0].imshow(sub, cmap="Greys", vmin=0, vmax=1)
    names = [_cls_name(s.eval, k) for k in allc]
    ax[0].set_xticks(range(len(allc)), names)
    ax[0].set_yticks(range(len(allc)), names)
    ax[0].set(title="D  input-LDA confusion (row-normalised)", xlabel="predicted", ylabel="true")
    x = np.arange(len(hid))
    hl = [layer_label(l) for l in hid]
    for i, (title, cls) in enumerate(triples):
        t = A.triple_expansion(proj, base, y, cls, cor, inc)
        tri_res.append((title, t))
        a = ax[1 + i]
        a.plot(x, t.mean_ratio["cor"], "o-", label="COR")
        a.plot(x, t.mean_ratio["inc"], "s-", label="INC")
        a.axhline(1, color="grey", lw=.5)
        a.set_xticks(x, hl)
        a.set(title=f"E  {title}", ylabel="centroid distance / input-LDA distance")
        a.legend(fontsize=7)
    partner = A.most_confused(A.confusion_matrix(y, net, K), _centroids(base, y, K))
    ex = A.expansion_by_confusion(proj, base, y, cor, inc, partner)
    ctx.res["expansion"] = ex
    a = ax[3]
    a.plot(x, ex.cor_mean, "o-", label="COR mean ratio")
    a.plot(x, ex.inc_mean, "s-", label="INC mean ratio")
    a.set_xticks(x, hl)
    a.set(title="F  every class vs its most-confused class", ylabel="mean relative expansion")
    a2 = a.twinx()
    a2.plot(x, ex.share_inc_gt_cor, "^:", color="C2", label="share INC > COR")
    a2.set_ylim(0, 1)
    a2.set_ylabel("share of classes with INC > COR", color="C2")
    a.legend(fontsize=7, loc="upper left")
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig5def.png")), f"Fig. 5D–F ({ctx.tag}): input-LDA confusions of the "
                "triples, relative expansion of class-centroid distances (COR vs INC), and Fig. 5F over every class "
                "and its most-confused class at the output (classes never confused use the nearest centroid).")
    ctx.doc.table(["layer", "COR mean ratio", "INC mean ratio", "share INC > COR", "classes"],
                  [[h, c, i, sh, n] for h, c, i, sh, n in zip(hl, ex.cor_mean, ex.inc_mean, ex.share_inc_gt_cor, ex.n_valid)],
                  name=ctx.fig("fig5f"))
    return [("Fig. 5F", "INC expands more than COR (mean ratio, every layer)",
             _series(hl, ex.inc_mean - ex.cor_mean) + " (INC − COR)", float("nan"), all_positive(ex.inc_mean - ex.cor_mean)),
            ("Fig. 5F", "INC expands more than COR (share of classes > 0.5, every layer)",
             _series(hl, ex.share_inc_gt_cor), float("nan"), all_positive(ex.share_inc_gt_cor - 0.5))]


def _centroids(points, y, K):
    c = np.full((K, points.shape[1]), np.nan)
    for k in np.unique(y):
        c[k] = points[y == k].mean(0)
    return c


# --------------------------------------------------------------------------- Fig. 6, 8B
def _slt_cluster_figure(ctx, cls_idx, fig_name, caption_prefix):
    s = ctx.src
    n_correct = int(((s.eval.labels == cls_idx) & (ctx.res["pred_eval"] == cls_idx)).sum())
    min_size = max(2, min(n_correct, ctx.budget.slt_cluster) // 20)
    r = A.class_slt_clusters(s.model, s.eval, int(cls_idx), n_clusters=4, min_size=min_size,
                             max_samples=ctx.budget.slt_cluster, seed=ctx.seed, pred=ctx.res["pred_eval"])
    cl = r.clusters
    C = min(4, len(cl.sizes))              # the four largest clusters are drawn
    fig = plt.figure(figsize=(14, 6.5))
    gs = fig.add_gridspec(2, C + 3)
    a = fig.add_subplot(gs[:, 0:2])
    mat = r.slts[cl.order].T
    v = np.abs(mat).max() or 1
    a.imshow(mat, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
    # a colour tick above each sample of the drawn clusters (a line per cluster boundary would
    # paint the panel black when UPGMA splits off many small clusters)
    pos = np.arange(len(cl.order))
    top = cl.labels[cl.order]
    for c in range(C):
        a.scatter(pos[top == c], np.full((top == c).sum(), -3.0), color=f"C{c}", marker="|", s=30,
                  clip_on=False)
    a.set_ylim(mat.shape[0] - 0.5, -5)
    a.set(xlabel=f"correct samples of /{_cls_name(s.eval, cls_idx)}/ (UPGMA order)", ylabel="input dim (band-major)",
          title="A  SLTs of the output node")
    b = fig.add_subplot(gs[0, 2])
    for c in range(len(cl.sizes)):
        m = cl.labels == c
        b.scatter(r.mds[m, 0], r.mds[m, 1], s=6, color=f"C{c}" if c < C else "lightgrey",
                  label=f"{c} (n={cl.sizes[c]})" if c < C else None)
    b.set(title="B  MDS of SLTs", xticks=[], yticks=[])
    b.legend(fontsize=6)
    a = fig.add_subplot(gs[1, 2])
    a.hist(np.linalg.norm(r.slts - r.slts.mean(0), axis=1), bins=20, color="grey")
    a.set(title="distance to mean SLT", yticks=[])
    for c in range(C):
        template_image(fig.add_subplot(gs[0, 3 + c]), r.feature_means[c], r.feature_shape,
                       f"features, cluster {c}", symmetric=False)
        template_image(fig.add_subplot(gs[1, 3 + c]), cl.means[c], r.feature_shape, f"mean SLT {c} (n={cl.sizes[c]})")
    return save(fig, ctx.out, ctx.fig(fig_name)), r


def stage_slt_clusters(ctx: Context):
    s = ctx.src
    y, pred = s.eval.labels, ctx.res["pred_eval"]
    correct = np.bincount(y[pred == y], minlength=s.eval.n_classes)
    rows = []
    for fig_name, wanted, fig_id in (("fig6.png", "r", "Fig. 6"), ("fig8b.png", "t", "Fig. 8B")):
        idx = _find(s.eval, [wanted])
        note = ""
        if idx is None or correct[idx[0]] < 8:
            k = int(np.argsort(-correct)[0 if fig_id == "Fig. 6" else 1])
            note = f" (/{wanted}/ absent or too rare here: class {_cls_name(s.eval, k)} instead)"
        else:
            k = idx[0]
        try:
            name, r = _slt_cluster_figure(ctx, k, fig_name, fig_id)
        except A.AnalysisError as e:
            ctx.doc.p(f"{fig_id} skipped: {e}")
            rows.append((fig_id, f"SLT clusters of /{wanted}/", "—", float("nan"), f"not measured ({e})"))
            continue
        ctx.doc.h(f"{fig_id} — SLT clusters of /{_cls_name(s.eval, k)}/ ({ctx.tag}){note}", 3)
        small = len(r.clusters.sizes) - 4
        ctx.doc.img(name, f"{fig_id} ({ctx.tag}): output-node SLTs of {len(r.index)} correctly classified "
                    f"/{_cls_name(s.eval, k)}/ frames (≤ {ctx.budget.slt_cluster}, seed {ctx.seed}), UPGMA "
                    "(Euclidean), cut finely enough that 4 clusters have ≥ 5 % of the frames (or as many "
                    "as any cut gives)"
                    + (f" ({small} smaller clusters in grey)" if small > 0 else "")
                    + "; MDS coloured by cluster; mean input features and mean SLT of the 4 largest clusters.")
        if fig_id == "Fig. 8B":
            rows.append((fig_id, "SLTs of one class form distinct clusters (templates shown)",
                         "largest cluster sizes " + ", ".join(str(n) for n in r.clusters.sizes[:4]) + note, float("nan"),
                         "qualitative: see figure"))
    return rows


# --------------------------------------------------------------------------- Fig. 7
def stage_slt_spectra(ctx: Context):
    s, b = ctx.src, ctx.budget
    sp = A.slt_spectra(s.model, s.eval, max_samples=b.node_samples, seed=ctx.seed, progress=True)
    ctx.res["slt_spectra"] = sp
    labels = [layer_label(l) for l in sp.layers]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    cmap = plt.get_cmap("viridis", len(labels))
    for i, l in enumerate(sp.layers):
        ax[0, 0].plot(sp.node_mean[i], color=cmap(i), label=labels[i])
        ax[0, 1].plot(sp.input_mean[l], color=cmap(i), label=labels[i])
        au = sp.node_auc[l][np.isfinite(sp.node_auc[l])]
        ax[1, 0].hist(au, bins=30, histtype="step", color=cmap(i), label=labels[i])
        ax[1, 1].hist(sp.input_auc[l][np.isfinite(sp.input_auc[l])], bins=30, histtype="step", color=cmap(i))
    ax[0, 0].set(title="Σ_NODES (mean over live nodes)", xlabel="singular value order", ylabel="normalised σ")
    ax[0, 1].set(title="Σ_INPUTS (mean over input dims)", xlabel="singular value order")
    ax[1, 0].set(xlabel="AUC per node", ylabel="nodes")
    ax[1, 1].set(xlabel="AUC per input dim", ylabel="input dims")
    ax[0, 0].legend(fontsize=7)
    ctx.doc.h(f"Fig. 7 — SLT spectra ({ctx.tag})", 3)
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig7a.png")), f"Fig. 7A ({ctx.tag}): SVD spectra of node SLTs "
                f"[N × F] and input-dimension slices [N × M] over {sp.n_samples} eval frames (seed {ctx.seed}); "
                "hidden layer 1 is skipped (rank 1); histograms of their AUCs.")
    rows = []
    hid_idx = [i for i, l in enumerate(sp.layers) if l != "output"]
    r1, v1 = depth_trend(sp.node_auc_mean[hid_idx])
    r2, v2 = depth_trend(sp.input_auc_mean[hid_idx])
    rows += [("Fig. 7A", "node SLT AUC grows with depth (HL2..HLL)", _series(labels, sp.node_auc_mean), r1, v1),
             ("Fig. 7A", "input-dim SLT AUC grows with depth (HL2..HLL)", _series(labels, sp.input_auc_mean), r2, v2)]
    # Fig. 7B: population SLT spectra vs activation within-class AUC (hidden layers)
    lda = ctx.res["lda"]
    hid = [l for l in lda.layers if l != "input"]
    pop = A.population_spectra(s.model, s.eval, hid, max_per_class=b.pop_per_class, seed=ctx.seed, progress=True)
    ctx.res["population"] = pop
    act_auc = np.array([ctx.res["within_auc"][lda.layers.index(l)] for l in hid])
    corr = float(np.corrcoef(act_auc, pop.auc_mean)[0, 1]) if len(hid) > 2 else float("nan")
    # Fig. 7C/D
    cor, inc = ctx.res["cor_inc"]
    dd = A.inc_cor_difference(s.model, s.eval, cor, inc, max_samples=b.inc_cor, seed=ctx.seed, progress=True)
    ctx.res["inc_cor"] = dd
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    ax[0].plot(act_auc, pop.auc_mean, "o-")
    for l, xa, ya in zip(hid, act_auc, pop.auc_mean):
        ax[0].annotate(layer_label(l), (xa, ya), fontsize=8)
    ax[0].set(xlabel="activation within-class AUC (Fig. 3C)", ylabel=f"population SLT AUC (D = {pop.D})",
              title=f"B  r = {corr:.2f}")
    dl = [layer_label(l) for l in dd.layers]
    for i, l in enumerate(dd.layers):
        ax[1].plot(dd.inc_mean[l] - dd.cor_mean[l], color=cmap(min(i, cmap.N - 1)), label=dl[i])
    ax[1].axhline(0, color="grey", lw=.5)
    ax[1].set(title="C  Σ_INC − Σ_COR (node mean)", xlabel="singular value order")
    ax[1].legend(fontsize=7)
    ax[2].bar(np.arange(len(dl)), dd.auc_mean, color=["C0" if v > 0 else "C3" for v in dd.auc_mean])
    ax[2].set_xticks(np.arange(len(dl)), dl)
    ax[2].axhline(0, color="k", lw=.5)
    ax[2].set(title="D  AUC of Σ_INC − Σ_COR (mean over nodes)")
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig7bcd.png")), f"Fig. 7B–D ({ctx.tag}): per-class population SLT "
                f"spectra ([N_k × F·M], N_k ≤ {b.pop_per_class} per class, seed {ctx.seed}) against the activation "
                f"AUC; Σ_INC − Σ_COR with {dd.n_per_group} frames per group (equal sizes, seeded).")
    rows += [("Fig. 7B", "population SLT AUC relates negatively to activation within-class AUC",
              f"Pearson r = {corr:.3g} over {len(hid)} layers", corr,
              "holds" if corr <= -0.5 else ("holds partly" if corr < 0 else "does not hold")),
             ("Fig. 7D", "Σ_INC − Σ_COR > 0 (AUC, mean over nodes)", _series(dl, dd.auc_mean), float("nan"),
              all_positive(dd.auc_mean))]
    return rows


# --------------------------------------------------------------------------- Fig. 8A, 8C
def stage_templates(ctx: Context):
    s = ctx.src
    pred = ctx.res["pred_eval"]
    correct = np.bincount(s.eval.labels[pred == s.eval.labels], minlength=s.eval.n_classes)
    wanted = _find(s.eval, ["s", "z", "m", "n", "t", "r", "iy", "aa"]) or list(np.argsort(-correct)[:8])
    wanted = [k for k in wanted if correct[k] > 0][:8]
    t = A.centroid_templates(s.model, s.eval, wanted, k=ctx.budget.template_k, pred=pred)
    fig, ax = plt.subplots(2, len(t.classes), figsize=(1.9 * len(t.classes), 4), squeeze=False)
    for i, k in enumerate(t.classes):
        template_image(ax[0, i], t.features[i], t.feature_shape, f"/{_cls_name(s.eval, k)}/ features", symmetric=False)
        template_image(ax[1, i], t.slt[i], t.feature_shape, f"SLT (n={t.n_used[i]})")
    ctx.doc.h(f"Fig. 8 — templates ({ctx.tag})", 3)
    ctx.doc.img(save(fig, ctx.out, ctx.fig("fig8a.png")), f"Fig. 8A ({ctx.tag}): mean input features (top) and mean "
                f"output-node SLT (bottom) of the {ctx.budget.template_k} correctly classified frames nearest the "
                "class centroid of the SLTs.")
    rows = [("Fig. 8A", "centroid templates per output node", f"{len(t.classes)} classes drawn", float("nan"),
             "qualitative: see figure")]
    pairs = []
    for a, b in (("s", "z"), ("m", "n")):
        idx = _find(s.eval, [a, b])
        if idx is None or min(correct[idx]) == 0:
            ctx.doc.p(f"Fig. 8C: the pair /{a}/–/{b}/ is not available in this dataset (skipped).")
            rows.append(("Fig. 8C", f"/{a}/–/{b}/ shared and distinguishing weights", "—", float("nan"),
                         "not measured (class pair absent)"))
        else:
            pairs.append(tuple(idx))
    if not pairs:                                 # other corpora: the most confused pair of the net
        conf = A.confusion_matrix(s.eval.labels, pred, s.eval.n_classes)
        np.fill_diagonal(conf, 0)
        c2 = conf + conf.T
        i, j = np.unravel_index(c2.argmax(), c2.shape)
        if correct[i] and correct[j]:
            pairs.append((int(i), int(j)))
            ctx.doc.p(f"Fig. 8C uses this net's most confused pair /{_cls_name(s.eval, i)}/–/{_cls_name(s.eval, j)}/ instead.")
    if pairs:
        fig, ax = plt.subplots(3, 2 * len(pairs), figsize=(3.2 * 2 * len(pairs), 6.5), squeeze=False)
        for p_i, (a, b) in enumerate(pairs):
            pt = A.pair_templates(s.model, s.eval, a, b, pred=pred, max_samples=2000, seed=ctx.seed)
            na, nb = _cls_name(s.eval, a), _cls_name(s.eval, b)
            for node in range(2):
                for cls in range(2):
                    template_image(ax[node, 2 * p_i + cls], pt.mean[node, cls], pt.feature_shape,
                                   f"node {(na, nb)[node]} ← /{(na, nb)[cls]}/ (n={pt.n[cls]})")
            for cls in range(2):
                template_image(ax[2, 2 * p_i + cls], pt.difference[cls], pt.feature_shape,
                               f"node {na} − node {nb} ← /{(na, nb)[cls]}/")
            if (_cls_name(s.eval, a).lower(), _cls_name(s.eval, b).lower()) in (("s", "z"), ("m", "n")):
                rows.append(("Fig. 8C", f"/{na}/–/{nb}/ shared and distinguishing weights",
                             "templates drawn", float("nan"), "qualitative: see figure"))
        ctx.doc.img(save(fig, ctx.out, ctx.fig("fig8c.png")), f"Fig. 8C ({ctx.tag}): mean SLT of output nodes a and "
                    "b (rows) to correctly classified frames of classes a and b (columns); bottom: node a − node b, "
                    "the distinguishing weights (shared weights cancel).")
    return rows


STAGES = [("Table 1 accuracy", stage_accuracy, "all"), ("Table 2 / Fig. 3 LDA", stage_lda, "all"),
          ("Fig. 2 selectivity", stage_selectivity, "all"), ("Fig. 4 t-SNE", stage_tsne, "all"),
          ("Fig. 5 expansion", stage_expansion, "all"), ("Fig. 6/8B SLT clusters", stage_slt_clusters, "all"),
          ("Fig. 7 SLT spectra", stage_slt_spectra, "all"), ("Fig. 8 templates", stage_templates, "all")]
