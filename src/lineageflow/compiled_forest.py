"""A pixel classifier's Random Forest compiled to native code (treelite + tl2cgen), the fast path of pixels_predict.

The scikit-learn forest stays the reference: :func:`compile_forest` checks the compiled library against it on rows
placed at and around every split threshold and refuses a library that disagrees. Compiling needs a C compiler
(gcc or clang on PATH); :func:`find_compiler` says whether there is one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from lineageflow.atomic import atomic_path
from lineageflow.errors import InputError

COMPILERS = ("gcc", "clang")  # the toolchains tl2cgen drives
AGREEMENT = 1e-6  # largest probability difference to scikit-learn accepted from the compiled forest
_CHECK_ROWS = 4096


def find_compiler() -> str | None:
    """The first C compiler on PATH (its name is tl2cgen's toolchain), or None."""
    return next((c for c in COMPILERS if shutil.which(c)), None)


def backend(setting: str) -> tuple[str, str]:
    """('compiled' or 'scikit-learn', a note for the user or '') for config key pixels.forest (auto, compiled,
    scikit-learn); 'compiled' without a C compiler is an error, 'auto' then falls back to scikit-learn."""
    if setting == "scikit-learn":
        return "scikit-learn", ""
    if find_compiler() is not None:
        return "compiled", ""
    if setting == "compiled":
        raise InputError("config key 'pixels.forest' is 'compiled' but there is no C compiler (gcc or clang) on "
                         "PATH: install one, or set it to 'auto' or 'scikit-learn'")
    return "scikit-learn", ("no C compiler (gcc or clang) on PATH: the pixel forest runs in scikit-learn, about "
                            "2x slower than compiled (config key pixels.forest)")


def _probe_rows(forest, n_features: int, seed: int = 0) -> np.ndarray:
    """float32 rows whose values sit on, just below and just above the forest's split thresholds, so every branch
    of every tree is taken both ways somewhere, including ties at a threshold."""
    rng = np.random.default_rng(seed)
    by_feature: list[list[np.ndarray]] = [[] for _ in range(n_features)]
    for est in forest.estimators_:
        tree = est.tree_
        inner = tree.children_left >= 0
        for f in np.unique(tree.feature[inner]):
            by_feature[f].append(tree.threshold[inner & (tree.feature == f)])
    X = np.zeros((_CHECK_ROWS, n_features), np.float32)
    for f, parts in enumerate(by_feature):
        if not parts:
            continue
        thr = np.concatenate(parts).astype(np.float32)
        pick = thr[rng.integers(0, len(thr), _CHECK_ROWS)]
        step = rng.integers(-2, 3, _CHECK_ROWS)  # -2..2 float32 ulps around the threshold
        X[:, f] = pick + step * np.spacing(pick)
    return X


class CompiledForest:
    """``predict_proba`` of a compiled forest: float64 (rows, classes) like scikit-learn's."""

    def __init__(self, path, n_classes: int, threads: int = 1):
        import tl2cgen

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"compiled forest {self.path} does not exist")
        try:
            self._predictor = tl2cgen.Predictor(str(self.path), nthread=max(1, int(threads)))
        except Exception as exc:  # a library for another machine, or not a tl2cgen one
            raise InputError(f"{self.path} is not a compiled forest that loads on this machine "
                             f"({type(exc).__name__}: {exc}); delete it to compile it again") from None
        self.n_classes = int(n_classes)
        found = int(np.asarray(self._predictor.num_class).ravel()[0])  # one entry per target; ours have one
        if found != self.n_classes and not (self.n_classes == 2 and found == 1):
            raise InputError(f"{self.path} predicts {found} classes, the classifier has {self.n_classes}; delete it "
                             f"to compile it again")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import tl2cgen

        X = np.ascontiguousarray(X, dtype=np.float32)
        out = np.asarray(self._predictor.predict(tl2cgen.DMatrix(X, dtype="float32")), dtype=np.float64)
        out = out.reshape(X.shape[0], -1)
        if out.shape[1] == 1:  # a binary model may give the positive class only
            out = np.concatenate([1.0 - out, out], axis=1)
        return out


def compile_forest(forest, path, n_features: int, threads: int = 1) -> float:
    """Compile a fitted scikit-learn RandomForestClassifier to the shared library ``path`` (written atomically),
    after checking it against the forest; returns the largest probability difference found."""
    import tl2cgen
    import treelite

    compiler = find_compiler()
    if compiler is None:
        raise InputError("compiling the pixel forest needs a C compiler (gcc or clang) on PATH; install one or "
                         "set config key 'pixels.forest' to 'scikit-learn'")
    path = Path(path)
    model = treelite.sklearn.import_model(forest)
    with atomic_path(path) as tmp:
        tl2cgen.export_lib(model, toolchain=compiler, libpath=str(tmp),
                           params={"parallel_comp": max(1, int(threads))}, nthread=max(1, int(threads)))
        X = _probe_rows(forest, n_features)
        diff = float(np.abs(CompiledForest(tmp, len(forest.classes_), threads).predict_proba(X)
                            - forest.predict_proba(X)).max())
        if not diff <= AGREEMENT:
            raise RuntimeError(f"the compiled forest disagrees with scikit-learn's by {diff:g} (> {AGREEMENT:g}) on "
                               f"rows at its split thresholds; set config key 'pixels.forest' to 'scikit-learn'")
    return diff
