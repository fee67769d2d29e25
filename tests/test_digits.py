"""The digits target: scikit-learn's 8 x 8 images as 64-D points (odeflow.datasets, ``data`` extra)."""

import sys

import numpy as np
import pytest

import odeflow as of
from odeflow import datasets

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def test_load_digits_matches_scikit_learn():
    images, labels = datasets.load_digits()
    raw = sklearn_datasets.load_digits()
    assert images.shape == (1797, 64) and labels.shape == (1797,)
    np.testing.assert_array_equal(images * 16, raw.data)  # intensities 0..16, divided by 16
    np.testing.assert_array_equal(images.reshape(-1, 8, 8) * 16, raw.images)  # rows of the 8 x 8 picture
    np.testing.assert_array_equal(labels, raw.target)
    assert images.min() == 0.0 and images.max() == 1.0
    counts = np.bincount(labels, minlength=10)
    assert counts.sum() == 1797 and counts.min() >= 170  # about 180 of each digit
    zero = images[labels == 0].mean(0).reshape(8, 8)  # a zero is a ring: dark centre, bright sides
    assert zero[3:5, 3:5].mean() < 0.5 * zero[3:5, [1, 6]].mean()
    images[0, 0] = 5.0  # a copy: the cached set is not changed
    assert datasets.load_digits()[0][0, 0] == 0.0


def test_get_digits_draws_distinct_images():
    images, _ = datasets.load_digits()
    c = datasets.get("digits", 300, rng=0)
    assert isinstance(c, of.Cloud) and c.points.shape == (300, 64) and c.is_uniform
    # every drawn row is one of the images (the 1797 images are pairwise distinct), none twice
    lookup = {row.tobytes(): i for i, row in enumerate(images)}
    assert len(lookup) == 1797
    idx = [lookup[row.tobytes()] for row in c.points]
    assert len(set(idx)) == 300
    np.testing.assert_array_equal(c.points, datasets.get("digits", 300, rng=0).points)
    assert not np.array_equal(c.points, datasets.get("digits", 300, rng=1).points)
    full = datasets.get("digits", 1797, rng=2).points
    np.testing.assert_array_equal(np.sort(full, axis=0), np.sort(images, axis=0))  # all of them
    assert "digits" in datasets.ALL_NAMES and "digits" not in datasets.NAMES


def test_get_digits_bad_input():
    with pytest.raises(ValueError, match="n"):
        datasets.get("digits", 1798)
    with pytest.raises(TypeError, match="params"):
        datasets.get("digits", 10, dim=3)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    datasets._digits_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(ImportError, match=r"odeflow\[data\]"):
            datasets.load_digits()
    finally:
        monkeypatch.undo()
        datasets._digits_arrays.cache_clear()
    assert datasets.load_digits()[0].shape == (1797, 64)
