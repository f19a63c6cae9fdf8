"""The paper's analyses as plain functions over arrays, models and FrameDatasets (METHODS §3–4).

Engine-side: numpy, scipy, scikit-learn and torch only — never widget libraries. Every function
documents its shapes, takes a seed where randomness enters and raises :class:`AnalysisError`
(a ``ValueError``) with a fix when the data cannot support the analysis.
"""
from ._checks import AnalysisError
from .clustering import (cluster_means, cut_labels, cut_n_clusters, prototype_cut, prototype_linkage, relabel_by_size,
                         unit_rows, upgma)
from .selectivity import (CoClustering, NodeClusterCounts, class_selectivity, co_cluster, dead_nodes,
                          node_cluster_counts)
from .embedding import Aggregated, classical_mds, embed, kmeans_aggregate
from .activations import collect_activations, predict
from .lda import LDAResult, LayerLDA, WithinClassSpectra, fit_lda, lda_layers, within_class_spectra
from .streamed_lda import StreamedLDA, streamed_lda
from .slt_spectra import (IncCorDifference, PopulationSpectra, SLTSpectra, inc_cor_difference,
                          population_spectra, population_spectrum, slt_spectra, spectrum_difference_auc)
from .layer_spectra import LayerSpectra, layer_spectra
from .expansion import (ExpansionResult, TripleExpansion, centroid_distance, confusion_matrix,
                        expansion_by_confusion, most_confused, relative_expansion, split_cor_inc, triple_expansion)
from .slt_clusters import ClassSLTClusters, SLTClusters, class_slt_clusters, cluster_slts, correct_of_class
from .templates import CentroidTemplates, PairTemplates, centroid_templates, nearest_to_centroid, pair_templates
from .sources import SourceAccuracy, accuracy_by_source, source_codes, source_templates

__all__ = ["AnalysisError", "upgma", "cut_labels", "cut_n_clusters", "cluster_means", "relabel_by_size",
           "prototype_linkage", "prototype_cut", "unit_rows",
           "class_selectivity", "co_cluster", "CoClustering", "dead_nodes", "node_cluster_counts",
           "NodeClusterCounts", "embed", "classical_mds", "kmeans_aggregate", "Aggregated",
           "collect_activations", "predict", "fit_lda", "lda_layers", "LDAResult", "LayerLDA", "streamed_lda", "StreamedLDA",
           "within_class_spectra", "WithinClassSpectra", "slt_spectra", "SLTSpectra", "population_spectrum",
           "population_spectra", "PopulationSpectra", "spectrum_difference_auc", "inc_cor_difference",
           "IncCorDifference", "layer_spectra", "LayerSpectra", "split_cor_inc", "confusion_matrix", "most_confused",
           "centroid_distance", "relative_expansion", "expansion_by_confusion", "ExpansionResult", "triple_expansion",
           "TripleExpansion", "cluster_slts", "SLTClusters", "class_slt_clusters", "ClassSLTClusters",
           "correct_of_class", "nearest_to_centroid", "centroid_templates", "CentroidTemplates", "pair_templates",
           "PairTemplates", "SourceAccuracy", "accuracy_by_source", "source_codes", "source_templates"]
