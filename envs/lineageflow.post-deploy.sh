#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment of lineageflow.yaml (a post-deploy script): installs the
# lineageflow library from the workflow's checkout, which the Snakefile names in LINEAGEFLOW_SOURCE. Editable, so the
# library the jobs import is the checkout's, as the rule scripts are; its dependencies come from lineageflow.yaml.
set -euo pipefail
source_dir="${LINEAGEFLOW_SOURCE:?LINEAGEFLOW_SOURCE is not set: it is set by the lineageflow Snakefile to its checkout}"
if [ ! -f "$source_dir/pyproject.toml" ]; then
    echo "LINEAGEFLOW_SOURCE=$source_dir holds no pyproject.toml: not a lineageflow checkout" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --disable-pip-version-check --quiet --editable "$source_dir"
python -c "import lineageflow"
