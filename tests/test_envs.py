"""envs/lineageflow.yaml (the rules' conda environment) against pyproject.toml, and its post-deploy script, which
installs the checkout's library into the environment.

Conda itself cannot build the environment here (no conda, and no channel reachable from this machine), so the
environment is checked as data, and the post-deploy script is run for real in a throw-away virtual environment.
"""

import os
import re
import shutil
import subprocess
import tomllib
import venv

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

ENV = ROOT / "envs" / "lineageflow.yaml"
POST_DEPLOY = ROOT / "envs" / "lineageflow.post-deploy.sh"
# pyproject dependencies the environment leaves out on purpose, and why
LEFT_OUT = {
    "gurobipy": "commercial solver: optional, installed by whoever has a licence",
    "snakemake-executor-plugin-slurm": "runs in the submitting Snakemake process, not in the jobs",
}
BUILD_TOOLS = {"python", "pip", "setuptools", "wheel"}  # the interpreter and what installs the checkout
_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def lower_bound(specifier) -> str | None:
    bounds = [s.version for s in specifier if s.operator == ">="]
    return bounds[0] if bounds else None


def env_packages() -> dict[str, str | None]:
    """name -> lower bound, over the conda and the pip dependencies of the environment file."""
    spec = yaml.safe_load(ENV.read_text())
    packages = {}
    for dep in spec["dependencies"]:
        for entry in (dep["pip"] if isinstance(dep, dict) else [dep]):
            assert not entry.startswith("-"), f"{ENV}: pip option {entry!r} (a path resolves under .snakemake/conda)"
            name, rest = _CONDA_SPEC.match(entry).groups()
            key = canonicalize_name(name)
            assert key not in packages, f"{ENV}: {name} listed twice"
            packages[key] = lower_bound(Requirement(f"x{rest.replace(' ', '')}").specifier) if rest else None
    return packages


def test_environment_has_pyprojects_dependencies_and_lower_bounds():
    env = env_packages()
    project = {canonicalize_name(r.name): lower_bound(r.specifier)
               for r in map(Requirement, pyproject()["dependencies"])}
    for name, bound in project.items():
        if name in LEFT_OUT:
            assert name not in env, f"{ENV} has {name}: {LEFT_OUT[name]}"
            continue
        assert name in env, f"{ENV} lacks {name}, a dependency in pyproject.toml"
        assert env[name] == bound, f"{name}: {ENV.name} says >={env[name]}, pyproject.toml >={bound}"
    extra = set(env) - set(project) - BUILD_TOOLS
    assert not extra, f"{ENV} has packages pyproject.toml does not depend on: {sorted(extra)}"
    assert env["python"] == pyproject()["requires-python"].removeprefix(">=")
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    assert env["setuptools"] == lower_bound(Requirement(next(r for r in build if r.startswith("setuptools"))).specifier)


def test_every_rule_uses_the_environment_that_has_a_post_deploy_script():
    """Snakemake runs envs/NAME.post-deploy.sh after it makes envs/NAME.yaml: every conda directive names that file."""
    named = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        named |= set(re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()))
    assert named == {"../envs/lineageflow.yaml"}, named
    assert os.access(POST_DEPLOY, os.X_OK) and POST_DEPLOY.read_text().startswith("#!/usr/bin/env bash\n")
    snakefile = (ROOT / "Snakefile").read_text()
    assert "os.environ.update(LINEAGEFLOW_SOURCE=workflow.basedir)" in snakefile


def run_post_deploy(env_dir, source):
    """The post-deploy script as Snakemake runs it: in the activated environment (its bin/ first on PATH)."""
    path = os.pathsep.join([str(env_dir / "bin"), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LINEAGEFLOW_SOURCE")}
    env.update(PATH=path, VIRTUAL_ENV=str(env_dir))
    if source is not None:
        env["LINEAGEFLOW_SOURCE"] = str(source)
    return subprocess.run(["bash", str(POST_DEPLOY)], capture_output=True, text=True, env=env, cwd=env_dir.parent)


def test_post_deploy_installs_the_checkout_into_the_environment(tmp_path):
    """Into a fresh environment (with this interpreter's packages standing in for the conda ones, so nothing is
    downloaded), from a copy of the checkout (the real one is not touched): the jobs then import that checkout."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "pyproject.toml", checkout)
    shutil.copy(ROOT / "README.md", checkout)
    shutil.copytree(ROOT / "src" / "lineageflow", checkout / "src" / "lineageflow",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    proc = run_post_deploy(env_dir, checkout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import lineageflow; print(lineageflow.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert where.stdout.strip() == str(checkout / "src" / "lineageflow" / "__init__.py"), where.stderr


def test_post_deploy_without_the_checkout_says_why(tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    proc = run_post_deploy(env_dir, None)
    assert proc.returncode != 0 and "LINEAGEFLOW_SOURCE is not set" in proc.stderr
    proc = run_post_deploy(env_dir, tmp_path)
    assert proc.returncode != 0 and "holds no pyproject.toml" in proc.stderr
