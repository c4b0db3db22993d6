"""The compiled pixel forest (treelite + tl2cgen): same probabilities as scikit-learn's, checked before use."""

import numpy as np
import pytest

from lineageflow import compiled_forest, pixels
from lineageflow.errors import InputError
from test_pixels import SPEC, blobs, sparse_labels


@pytest.fixture(scope="module")
def two_class(tmp_path_factory):
    img, truth = blobs(shape=(96, 80), seed=1, n=10)
    clf = pixels.train([img], [sparse_labels(truth, n=120)], SPEC, n_trees=40, seed=0)
    lib = tmp_path_factory.mktemp("compiled") / "forest.so"
    diff = compiled_forest.compile_forest(clf.forest, lib, len(clf.feature_names), threads=2)
    return clf, lib, diff


def _with_compiled(clf, lib, threads=1):
    fast = pixels.PixelClassifier(**{**clf.__dict__, "compiled": None})
    fast.compiled = compiled_forest.CompiledForest(lib, len(clf.classes), threads=threads)
    return fast


def test_same_probabilities_as_scikit_learn(two_class):
    clf, lib, diff = two_class
    assert diff <= compiled_forest.AGREEMENT
    img, _ = blobs(shape=(96, 80), seed=7, n=10)  # an unseen image
    ref = pixels.predict(clf, img)
    one, two = (pixels.predict(_with_compiled(clf, lib, t), img) for t in (1, 2))
    assert one.dtype == np.float32 and one.shape == ref.shape
    np.testing.assert_allclose(one, ref, atol=compiled_forest.AGREEMENT, rtol=0)
    assert np.array_equal(one.argmax(-1), ref.argmax(-1))
    assert one.tobytes() == two.tobytes()  # threads do not change a byte


def test_three_classes_in_3d_with_channels(tmp_path):
    rng = np.random.default_rng(3)
    img, truth = blobs(shape=(6, 40, 36), seed=2, n=6)
    img = np.stack([img, rng.normal(0, 5, img.shape).astype(np.float32) + 20 * truth], axis=-1)
    lab = sparse_labels(truth, n=80)
    lab[(lab == 2) & (np.indices(truth.shape)[2] < 18)] = 3  # a third class: left-hand background
    clf = pixels.train([img], [lab], SPEC, n_trees=20, seed=0, channels=True)
    assert clf.classes == (1, 2, 3)
    lib = tmp_path / "forest3.so"
    compiled_forest.compile_forest(clf.forest, lib, len(clf.feature_names))
    ref = pixels.predict(clf, img)
    fast = pixels.predict(_with_compiled(clf, lib), img)
    assert fast.shape == img.shape[:-1] + (3,)
    np.testing.assert_allclose(fast, ref, atol=compiled_forest.AGREEMENT, rtol=0)


def test_probe_rows_take_every_split_both_ways(two_class):
    clf, _, _ = two_class
    X = compiled_forest._probe_rows(clf.forest, len(clf.feature_names))
    for est in clf.forest.estimators_[:10]:
        tree = est.tree_
        inner = np.flatnonzero(tree.children_left >= 0)
        values = X[:, tree.feature[inner]]
        assert (values <= tree.threshold[inner]).any(0).all() and (values > tree.threshold[inner]).any(0).all()


def test_a_disagreeing_library_is_refused(two_class, tmp_path, monkeypatch):
    clf, _, _ = two_class
    real = compiled_forest.CompiledForest.predict_proba
    monkeypatch.setattr(compiled_forest.CompiledForest, "predict_proba", lambda self, X: real(self, X) + 1e-3)
    target = tmp_path / "forest.so"
    with pytest.raises(RuntimeError, match="disagrees with scikit-learn's by 0.001.*pixels.forest"):
        compiled_forest.compile_forest(clf.forest, target, len(clf.feature_names))
    assert list(tmp_path.iterdir()) == []  # neither the library nor its temporary


def test_backend_follows_the_compiler(monkeypatch):
    assert compiled_forest.backend("scikit-learn") == ("scikit-learn", "")
    if compiled_forest.find_compiler():
        assert compiled_forest.backend("auto") == ("compiled", "")
        assert compiled_forest.backend("compiled") == ("compiled", "")
    monkeypatch.setenv("PATH", "")
    assert compiled_forest.find_compiler() is None
    backend, note = compiled_forest.backend("auto")
    assert backend == "scikit-learn" and "no C compiler" in note and "pixels.forest" in note
    with pytest.raises(InputError, match="'pixels.forest' is 'compiled' but there is no C compiler"):
        compiled_forest.backend("compiled")


def test_compiling_without_a_compiler_names_the_config_key(two_class, tmp_path, monkeypatch):
    clf, _, _ = two_class
    monkeypatch.setenv("PATH", "")
    with pytest.raises(InputError, match="C compiler.*'pixels.forest'"):
        compiled_forest.compile_forest(clf.forest, tmp_path / "f.so", len(clf.feature_names))
    assert list(tmp_path.iterdir()) == []


def test_bad_libraries_name_the_file(two_class, tmp_path):
    clf, lib, _ = two_class
    with pytest.raises(InputError, match="compiled forest .*missing.so does not exist"):
        compiled_forest.CompiledForest(tmp_path / "missing.so", 2)
    junk = tmp_path / "junk.so"
    junk.write_bytes(b"not a library")
    with pytest.raises(InputError, match=r"junk.so is not a compiled forest that loads on this machine.*delete it"):
        compiled_forest.CompiledForest(junk, 2)
    with pytest.raises(InputError, match=r"forest.so predicts 2 classes, the classifier has 3"):
        compiled_forest.CompiledForest(lib, 3)


def test_loading_without_the_forest_predicts_through_the_compiled_one(two_class, tmp_path):
    """pixels_predict with a compiled forest skips unpickling scikit-learn's (and importing scikit-learn)."""
    clf, lib, _ = two_class
    path = tmp_path / "classifier.pkl"
    pixels.save(clf, path)
    light = pixels.load(path, with_forest=False)
    assert light.forest is None and light.classes == clf.classes
    img, _ = blobs(shape=(96, 80), seed=8, n=10)
    with pytest.raises(ValueError, match="loaded without its forest"):
        pixels.predict(light, img)
    light.compiled = compiled_forest.CompiledForest(lib, len(light.classes))
    assert pixels.predict(light, img).tobytes() == pixels.predict(_with_compiled(clf, lib), img).tobytes()
