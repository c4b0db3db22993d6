"""lineageflow: microscopy time-lapses to evaluated cell lineages (library; no Snakemake imports)."""

__version__ = "0.1.0"
