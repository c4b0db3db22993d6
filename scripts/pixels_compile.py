"""Rule pixels_compile: the pixel classifier's forest compiled to native code (config key pixels.forest), checked
against the scikit-learn forest it came from; pixels_predict then runs the compiled one."""

import logging
import time

from _helpers import run

from lineageflow import compiled_forest, pixels

log = logging.getLogger("lineageflow")


def main(smk):
    clf = pixels.load(smk.input.classifier)
    start = time.perf_counter()
    diff = compiled_forest.compile_forest(clf.forest, smk.output[0], len(clf.feature_names), threads=smk.threads)
    log.info("compiled %d trees of %s with %s in %.1f s; largest probability difference to scikit-learn on rows at "
             "the split thresholds: %g", len(clf.forest.estimators_), smk.input.classifier,
             compiled_forest.find_compiler(), time.perf_counter() - start, diff)


if __name__ == "__main__":
    run(main, globals().get("snakemake"))
