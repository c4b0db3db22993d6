import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from lineageflow import pixels
from lineageflow.errors import InputError
from lineageflow.filters import FeatureSpec

SPEC = FeatureSpec.from_names(
    ["GaussianSmoothing:0.7", "GaussianSmoothing:1.6", "GaussianGradientMagnitude:1.0", "LaplacianOfGaussian:1.6",
     "HessianOfGaussianEigenvalues:1.6", "StructureTensorEigenvalues:1.0"]
)


def blobs(shape=(64, 64), seed=0, n=8):
    """Noisy bright disks on a dark background, plus the true foreground mask."""
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    pts = tuple(rng.integers(min(6, s // 3), s - min(6, s // 3), n) for s in shape)
    img[pts] = 1
    truth = ndimage.distance_transform_edt(img == 0) <= 4
    img = truth * 100.0 + rng.normal(0, 15, shape)
    return img.astype(np.float32), truth


def sparse_labels(truth, seed=0, n=60):
    rng = np.random.default_rng(seed)
    lab = np.zeros(truth.shape, np.uint8)
    for cls, mask in ((1, truth), (2, ~truth)):
        idx = np.argwhere(mask)
        pick = idx[rng.choice(len(idx), n, replace=False)]
        lab[tuple(pick.T)] = cls
    return lab


@pytest.fixture(scope="module")
def trained():
    img, truth = blobs()
    clf = pixels.train([img], [sparse_labels(truth)], SPEC, n_trees=30, seed=0)
    return clf, img, truth


def test_separates_two_classes(trained):
    clf, _, _ = trained
    img, truth = blobs(seed=5)  # an unseen image
    prob = pixels.predict(clf, img)
    assert prob.shape == img.shape + (2,) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-5)
    assert clf.classes == (1, 2)
    acc = ((prob[..., 0] > 0.5) == truth).mean()
    assert acc > 0.95


def test_deterministic_and_thread_independent(trained):
    clf, img, truth = trained
    lab = sparse_labels(truth)
    again = pixels.train([img], [lab], SPEC, n_trees=30, seed=0)
    a = pixels.predict(clf, img)
    np.testing.assert_array_equal(a, pixels.predict(again, img))
    np.testing.assert_array_equal(a, pixels.predict(again, img, n_jobs=2))
    other = pixels.train([img], [lab], SPEC, n_trees=30, seed=1)
    assert not np.array_equal(a, pixels.predict(other, img))


def test_save_load_roundtrip(trained, tmp_path):
    clf, img, _ = trained
    path = tmp_path / "sub" / "clf.pkl"
    pixels.save(clf, path)
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    back = pixels.load(path)
    assert back.spec == clf.spec and back.classes == clf.classes and back.ndim == 2
    np.testing.assert_array_equal(pixels.predict(back, img), pixels.predict(clf, img))
    # what it learned from and decided is read without the forest, in a process without scikit-learn
    assert pixels.read_training(path) == back.training == json.loads(json.dumps(clf.training))
    code = (f"import sys, json; from lineageflow import pixels; t = pixels.read_training({str(path)!r}); "
            "print(json.dumps([t['n_rows'], 'sklearn' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [clf.training["n_rows"], False]


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "garbage.pkl"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(InputError, match="garbage.pkl"):
        pixels.load(bad)
    with pytest.raises(InputError, match="missing.pkl"):
        pixels.load(tmp_path / "missing.pkl")
    import pickle

    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"metadata_json": "{}", "forest": None}))
    with pytest.raises(InputError, match="other.pkl"):
        pixels.load(other)
    with pytest.raises(InputError, match="garbage.pkl"):
        pixels.read_training(bad)
    other.write_bytes(pickle.dumps(json.dumps({"format": "something else"})))
    with pytest.raises(InputError, match="other.pkl"):
        pixels.read_training(other)


def test_training_errors():
    img, truth = blobs()
    with pytest.raises(InputError, match="no labelled pixel"):
        pixels.train([img], [np.zeros(img.shape, np.uint8)], SPEC)
    one_class = np.zeros(img.shape, np.uint8)
    one_class[truth] = 1
    with pytest.raises(InputError, match=r"only one class.*class 1: \d+ pixels"):
        pixels.train([img], [one_class], SPEC)
    with pytest.raises(InputError):
        pixels.train([img], [one_class[:10]], SPEC)


def test_3d_multiframe_and_channels():
    img, truth = blobs((8, 32, 32), seed=2, n=4)
    lab = sparse_labels(truth, n=40)
    spec = FeatureSpec.from_names(["GaussianSmoothing:1.0", "HessianOfGaussianEigenvalues:1.0:2d"])
    clf = pixels.train([img, img[::-1]], [lab, lab[::-1]], spec, n_trees=10, voxel_size=(2, 1, 1))
    prob = pixels.predict(clf, img)
    assert prob.shape == img.shape + (2,)
    assert ((prob[..., 0] > 0.5) == truth).mean() > 0.9
    with pytest.raises(InputError):
        pixels.predict(clf, img[0])  # 2D image for a 3D classifier
    two = np.stack([img, -img], -1)
    clf_c = pixels.train([two], [lab], spec, n_trees=10, channels=True)
    assert clf_c.n_channels == 2 and len(clf_c.feature_names) == 2 * 3
    assert pixels.predict(clf_c, two).shape == img.shape + (2,)
