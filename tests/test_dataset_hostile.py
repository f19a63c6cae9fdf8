"""`FrameDataset` given careless or hostile input (issue 15): nothing silently wrong, every refusal
names the problem and the fix, and the dataset stays usable afterwards."""
from __future__ import annotations

import numpy as np
import pytest

from slt_widgets.datasets import FrameDataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4)).astype(np.float32)


@pytest.fixture()
def ds():
    return FrameDataset.from_arrays(X, [0, 1, 0, 1, 2, 2], ["a", "b", "c"], (2, 2))


def spliced(**over):
    """Two utterances of 3 and 2 frames, context 1: the layout a crafted .npz would change."""
    frames = RNG.normal(size=(5, 2)).astype(np.float16)
    kw = dict(labels=np.array([0, 1, 1, 0, 1]), class_names=("lo", "hi"), feature_shape=(2, 3), _frames=frames,
              _frame_index=np.arange(5), _utt_of_sample=np.array([0, 0, 0, 1, 1]),
              utt_bounds=np.array([[0, 3], [3, 5]]), context=1)
    kw.update(over)
    return FrameDataset(**kw)


def still_usable(ds):
    np.testing.assert_array_equal(ds.features_at([0, 1]), ds.features[:2])
    assert ds.class_index("b") == 1


@pytest.mark.parametrize("labels, exc, words", [
    ([0.2, 1.7, 0, 1, 2, 2], ValueError, "labels must be whole class indices; label 0 is 0.2"),
    ([0, 1, np.nan, 1, 2, 2], ValueError, "label 2 is nan"),
    (["a", "b", "a", "b", "c", "c"], TypeError, "np.unique(labels, return_inverse=True)"),
    ([True, False, True, False, True, True], TypeError, "labels are booleans"),
    ([0, -1, 0, 1, 2, 2], ValueError, "class indices ≥ 0; got -1"),
])
def test_labels_that_would_be_truncated_or_guessed_are_refused(labels, exc, words):
    with pytest.raises(exc) as e:
        FrameDataset.from_arrays(X, labels, ["a", "b", "c"])
    assert words in str(e.value)


def test_integral_float_labels_are_taken():
    d = FrameDataset.from_arrays(X, [0.0, 1.0, 0.0, 1.0, 2.0, 2.0], ["a", "b", "c"])
    assert d.labels.dtype == np.int64 and d.labels.tolist() == [0, 1, 0, 1, 2, 2]


@pytest.mark.parametrize("index, exc, words", [
    (np.array([0.7]), TypeError, "sample indices must be integers, got float64"),
    ([1.0, 2.0], TypeError, "must be integers"),
    (True, TypeError, "is a bool"),
    ([99], IndexError, "sample index 99 out of range 0..5"),
    ([-7], IndexError, "sample index -7 out of range"),
    (np.array([True, False]), IndexError, "boolean mask must have length 6"),
])
def test_bad_sample_indices_are_refused(ds, index, exc, words):
    for call in (ds.features_at, ds.subset):
        with pytest.raises(exc) as e:
            call(index)
        assert words in str(e.value)
    still_usable(ds)


def test_good_indices_masks_slices_and_negatives(ds):
    np.testing.assert_array_equal(ds.features_at(-1), X[[5]])
    np.testing.assert_array_equal(ds.features_at(np.array([True, False] * 3)), X[[0, 2, 4]])
    np.testing.assert_array_equal(ds.subset(slice(1, 3)).labels, [1, 0])
    assert len(ds.subset([])) == 0


def test_iter_batches_needs_a_positive_int(ds):
    for bad, exc in ((0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="batch_size"):
            list(ds.iter_batches(bad))
    assert [len(i) for i, _, _ in ds.iter_batches(4)] == [4, 2]
    with pytest.raises(IndexError, match="out of range"):
        list(ds.iter_batches(2, index=[0, 50]))


def test_duplicate_class_names_are_refused_and_case_matches_are_exact_first():
    with pytest.raises(ValueError, match=r"class names must be unique; \['a'\] appear more than once"):
        FrameDataset.from_arrays(X, [0, 1, 0, 1, 2, 2], ["a", "b", "a"])
    d = FrameDataset.from_arrays(X, [0, 1, 0, 1, 2, 2], ["s", "S", "z"])
    assert d.class_index("s") == 0 and d.class_index("S") == 1 and d.class_index("Z") == 2
    with pytest.raises(KeyError, match=r"matches \['s', 'S'\] ignoring case"):
        d.class_index(" s ")
    with pytest.raises(TypeError, match="is a bool"):
        d.class_index(True)
    with pytest.raises(TypeError, match="name \\(str\\) or an int"):
        d.class_index(1.0)
    with pytest.raises(TypeError, match="pass list\\('abc'\\)"):
        FrameDataset.from_arrays(X, [0, 1, 0, 1, 2, 2], "abc")


@pytest.mark.parametrize("shape, words", [((-2, -2), "positive ints"), ((0, 4), "positive ints"),
                                          ((2.0, 2), "positive ints"), ((), "positive ints")])
def test_bad_feature_shapes_are_refused(shape, words):
    with pytest.raises(ValueError, match=words):
        FrameDataset.from_arrays(X, [0, 1, 0, 1, 2, 2], ["a", "b", "c"], shape)


def test_complex_empty_and_non_numeric_features_are_refused():
    with pytest.raises(ValueError, match=r"complex.*np.abs\(x\)"):
        FrameDataset.from_arrays(X + 1j, [0] * 6, ["a"])
    with pytest.raises(ValueError, match="0 samples"):
        FrameDataset.from_arrays(np.zeros((0, 4)), [], ["a"])
    with pytest.raises(ValueError, match="must be numbers"):
        FrameDataset.from_arrays(np.array([["x", "y"]]), [0], ["a"])


@pytest.mark.parametrize("over, words", [
    ({"_frame_index": np.array([0, 1, 2, 3, 9])}, "sample 4 points at frame 9, outside its utterance 1"),
    ({"_frame_index": np.array([0, 1, 2, 1, 4])}, "sample 3 points at frame 1, outside its utterance 1 (frames 3..4)"),
    ({"utt_bounds": np.array([[0, 3], [5, 3]])}, "utterance 1 has frame bounds [5, 3]"),
    ({"utt_bounds": np.array([[0, 3], [3, 7]])}, "not 0 <= first < end <= 5"),
    ({"utt_bounds": np.array([[-2, 3], [3, 5]])}, "utterance 0 has frame bounds [-2, 3]"),
    ({"_utt_of_sample": np.array([0, 0, 0, 1, 2])}, "utt_of_sample must lie in 0..1"),
    ({"context": -1}, "context must be ≥ 0"),
    ({"utt_voice": ("v1",)}, "utt_voice has 1 entries for 2 utterances"),
])
def test_spliced_storage_that_points_outside_itself_is_refused(over, words):
    assert spliced().features.shape == (5, 6)
    with pytest.raises(ValueError) as e:
        spliced(**over)
    assert words in str(e.value)


def test_a_crafted_npz_is_refused_naming_the_file(tmp_path):
    good = spliced()
    good.save(tmp_path / "good.npz")
    z = dict(np.load(tmp_path / "good.npz"))
    for key, value, words in (("frame_index", np.array([0, 1, 2, 3, 40], np.int32), "points at frame 40"),
                              ("utt_bounds", np.array([[3, 0], [3, 5]]), "frame bounds [3, 0]"),
                              ("feature_shape", np.array([-2, -3]), "feature_shape must be a tuple of positive"),
                              ("frames", np.full((5, 2), np.nan, np.float16), "features hold NaN/inf")):
        bad = dict(z, **{key: value})
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError) as e:
            FrameDataset.load(tmp_path / "bad.npz")
        assert str(tmp_path / "bad.npz") in str(e.value) and words in str(e.value), str(e.value)
    dense = FrameDataset.from_arrays(X, [0] * 6, ["a"])
    dense.save(tmp_path / "dense.npz")
    zd = dict(np.load(tmp_path / "dense.npz"))
    np.savez(tmp_path / "cplx.npz", **dict(zd, dense=zd["dense"] + 1j))
    with pytest.raises(ValueError, match="real float"):
        FrameDataset.load(tmp_path / "cplx.npz")
    assert FrameDataset.load(tmp_path / "good.npz").features.shape == (5, 6)
