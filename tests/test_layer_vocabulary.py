"""One layer vocabulary (issue 13): one parser and one labeller for engine, analysis, widgets and
reproduce — every spelling reads the same everywhere and every label reads back."""
import pytest
import torch
from torch import nn

import slt_widgets.analysis.layer_profiles as layer_profiles
import slt_widgets.reproduce.figures as figures
import slt_widgets.widgets._class_view as class_view
from slt_widgets.analysis import AnalysisError
from slt_widgets.analysis.activations import resolve_layers
from slt_widgets.engine import SLTInputError, SLTLayerError, layer_key, layer_label, resolve_layer, to_chain


def net(depth=3):
    layers, d = [], 4
    for _ in range(depth):
        layers += [nn.Linear(d, 5), nn.ReLU()]
        d = 5
    return nn.Sequential(*layers, nn.Linear(d, 2)).eval()


@pytest.mark.parametrize("L", [1, 2, 5])
def test_every_label_reads_back_to_its_layer(L):
    for k in [*range(1, L + 1), "output"]:
        assert layer_key(L, layer_label(k)) == k
        assert layer_key(L, k) == k
    assert layer_key(L, "input", allow=("input",)) == "input" and layer_label("input") == "input"
    assert layer_key(L, " OUT ") == "output" and layer_label("out") == "output"
    assert resolve_layer(L, "output") == L + 1 and resolve_layer(L, f"hl{L}") == L


@pytest.mark.parametrize("bad", [0, 4, -1, 1.5, True, "2", "hidden", "HL0", "input", None])
def test_a_layer_the_model_lacks_is_refused_with_the_choices(bad):
    with pytest.raises(SLTLayerError, match="choose one of HL1, HL2, HL3, output") as e:
        layer_key(3, bad)
    assert isinstance(e.value, SLTInputError) and isinstance(e.value, KeyError)
    assert not str(e.value).startswith("'")                 # the message as written, not KeyError's repr


def test_widgets_reproduce_and_analysis_use_the_engine_vocabulary():
    assert class_view.layer_key is layer_key and class_view.layer_label is layer_label
    assert figures.layer_label is layer_label
    assert layer_profiles.layer_label is layer_label
    model = net()
    assert class_view.layer_key(to_chain(model), "HL2") == 2
    assert resolve_layers(model, ["HL2", 1, "output", "input"]) == (2, 1, "output", "input")
    with pytest.raises(AnalysisError, match="hidden layers 1..3"):
        resolve_layers(model, [4])
    with pytest.raises(AnalysisError, match="'output' is not a choice"):
        resolve_layers(model, ["output"], allow=("input",))


def test_compare_aligns_layers_by_index_with_the_same_parser():
    from slt_widgets.widgets.compare_state import CompareState
    st = CompareState.__new__(CompareState)           # only its layer count matters here
    st.n_layers = 3
    assert st.layer_key("hl3") == 3 and st.layer_key("Output") == "output"
    with pytest.raises(KeyError, match=r"HL1, HL2, HL3, output \(layers are aligned by index\)"):
        st.layer_key(4)


def test_the_engine_reads_the_same_spellings():
    import slt_widgets as sw
    model = net(2).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    for spelling in (2, "HL2", " hl2 "):
        torch.testing.assert_close(sw.slt(model, x, layer=spelling).apply(x), sw.activations(model, x)[2])
    assert sw.slt(model, x, layer="OUT").layer == "output"
