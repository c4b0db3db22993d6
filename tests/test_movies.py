"""The movies table (lineageflow.movies) and another run's models (lineageflow.trained_models), unit by unit."""

import pickle

import pytest
from conftest import ROOT

from lineageflow import config as lf_config
from lineageflow import movies
from lineageflow.errors import ConfigError, InputError
from lineageflow.inputs import resolve
from lineageflow.synthetic import SyntheticConfig, generate
from lineageflow.trained_models import MODEL_FILES, use_models

SCHEMA = lf_config.load_schema(ROOT / "config/schema.yaml")


def _config(**over):
    return lf_config.validate_config(dict(over), SCHEMA)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies_data")
    for seq, seed in (("01", 1), ("02", 2), ("03", 3)):
        generate(root / "d2", SyntheticConfig(ndim=2, n_frames=3, n_cells=3, seed=seed), sequence=seq)
    generate(root / "d3", SyntheticConfig(ndim=3, n_frames=3, n_cells=3, seed=4), sequence="01")
    return root


def _table(tmp_path, text):
    path = tmp_path / "movies.tsv"
    path.write_text(text)
    return str(path)


def test_plan_shares_one_training_between_movies_with_the_same_training_movie(data, tmp_path):
    table = _table(tmp_path, "name\tinput\ttrain\tvoxel_size\tobjects.min_size\n"
                             f"a\t{data}/d2/02\t{data}/d2/01\t\t\n"
                             f"b\t{data}/d2/03\t{data}/d2/01\t\t\n"
                             f"c\t{data}/d3/01\t\t2,1,1\t5\n")
    trainings, runs = movies.plan(_config(movies=table, out=str(tmp_path / "res")), SCHEMA)
    assert [r.name for r in runs] == ["a", "b", "c"]
    assert [r.rules_prefix for r in runs] == ["movie_a", "movie_b", "movie_c"]
    assert len(trainings) == 1
    t = trainings[0]
    assert t.name == "d2_01" and t.config["input"] == f"{data}/d2/01" and t.config["train"] == ""
    assert t.config["out"] == f"{tmp_path}/res/training/d2_01"
    a, b, c = (r.config for r in runs)
    assert a["models"] == b["models"] == t.config["out"] and a["train"] == "" and a["out"] == f"{tmp_path}/res/a"
    assert c["models"] == "" and c["voxel_size"] == [2.0, 1.0, 1.0] and c["objects"]["min_size"] == 5
    assert a["objects"]["min_size"] == _config()["objects"]["min_size"]  # an empty cell keeps the default
    assert "line 4 (c)" in c["movie_of"]
    movies.check(trainings, runs)  # the models are made by the same run: not looked for yet
    run_a = resolve(a)
    assert (run_a.train_from, run_a.classify_from, run_a.models) == ("models", "models", t.config["out"])


def test_different_settings_train_separately(data, tmp_path):
    table = _table(tmp_path, "name\tinput\ttrain\tobjects.min_size\n"
                             f"a\t{data}/d2/02\t{data}/d2/01\t\n"
                             f"b\t{data}/d2/03\t{data}/d2/01\t7\n")
    trainings, runs = movies.plan(_config(movies=table, out=str(tmp_path / "res")), SCHEMA)
    assert [t.name for t in trainings] == ["d2_01", "d2_01-2"]
    assert runs[1].config["models"].endswith("training/d2_01-2")
    assert trainings[1].config["objects"]["min_size"] == 7


@pytest.mark.parametrize("text, words", [
    ("input\n{d}/d2/02\n", ["no column 'name'"]),
    ("name\tinput\na\t{d}/d2/02\na\t{d}/d2/03\n", ["line 3 (a)", "another movie has the name"]),
    ("name\tinput\n../x\t{d}/d2/02\n", ["name '../x'"]),
    ("name\tinput\ntraining\t{d}/d2/02\n", ["not one of"]),
    ("name\tinput\tout\na\t{d}/d2/02\tsomewhere\n", ["line 2 (a)", "column 'out' cannot be set per movie"]),
    ("name\tinput\ttracking.solvr\na\t{d}/d2/02\thighs\n", ["column 'tracking.solvr' is not a config key"]),
    ("name\tinput\ttracking.solver\na\t{d}/d2/02\tnope\n", ["line 2 (a)", "tracking.solver"]),
    ("name\tinput\tvoxel_size\na\t{d}/d2/02\t1,x\n", ["voxel_size '1,x' is not a list of numbers"]),
    ("name\tinput\na\t\n", ["line 2 (a)", "input cell is empty"]),
    ("name\tinput\tname\na\tb\tc\n", ["column 'name' twice"]),
    ("name\tinput\n", ["no movies"]),
])
def test_bad_tables_name_the_line_and_the_column(data, tmp_path, text, words):
    table = _table(tmp_path, text.format(d=data))
    with pytest.raises((ConfigError, InputError)) as err:
        movies.plan(_config(movies=table, out=str(tmp_path / "res")), SCHEMA)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_check_names_the_line_of_a_movie_whose_input_is_missing(data, tmp_path):
    table = _table(tmp_path, f"name\tinput\na\t{data}/d2/02\nb\t{data}/nowhere\n")
    trainings, runs = movies.plan(_config(movies=table, out=str(tmp_path / "res")), SCHEMA)
    with pytest.raises(InputError, match=r"line 3 \(b\).*nowhere.*no such file"):
        movies.check(trainings, runs)


def test_a_missing_table_and_an_input_beside_it_are_refused(data, tmp_path):
    with pytest.raises(InputError, match="config key 'movies'.*no such file"):
        movies.plan(_config(movies=str(tmp_path / "none.tsv")), SCHEMA)
    table = _table(tmp_path, f"name\tinput\na\t{data}/d2/02\n")
    with pytest.raises(ConfigError, match="config key 'input'.*cannot be combined with 'movies'"):
        movies.plan(_config(movies=table, input=f"{data}/d2/03"), SCHEMA)


def _fake_models(folder, ndim=2, n_channels=0, weights=False):
    """Model files as a run leaves them; the pixel classifier's metadata is the part checked."""
    import json

    for name, rel in MODEL_FILES.items():
        if name == "weights" and not weights:
            continue
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    meta = {"format": "lineageflow-pixel-classifier", "format_version": 3, "ndim": ndim, "n_channels": n_channels}
    with open(folder / MODEL_FILES["pixel_classifier"], "wb") as fh:
        pickle.dump(json.dumps(meta), fh)


def test_models_of_another_run_replace_training(data, tmp_path):
    from lineageflow import pixels

    _fake_models(tmp_path / "run")
    assert pixels.read_metadata(tmp_path / "run" / MODEL_FILES["pixel_classifier"])["ndim"] == 2
    run = resolve(_config(input=f"{data}/d2/02", models=str(tmp_path / "run")))
    assert (run.train_from, run.classify_from, run.learn_from) == ("models", "models", "")
    # the 2D classifier on a 3D movie
    with pytest.raises(InputError, match=r"trained on 2D frames.*has 3D frames.*'models'"):
        resolve(_config(input=f"{data}/d3/01", models=str(tmp_path / "run")))
    # learned weights asked for, but that run did not learn them
    with pytest.raises(InputError, match=r"weights.json is missing.*tracking.weights was not 'learned'"):
        resolve(_config(input=f"{data}/d2/02", models=str(tmp_path / "run"), tracking={"weights": "learned"}))
    with pytest.raises(InputError, match="config key 'models'.*no such folder"):
        resolve(_config(input=f"{data}/d2/02", models=str(tmp_path / "nowhere")))


def test_models_cannot_be_combined_with_training_keys(data, tmp_path):
    _fake_models(tmp_path / "run")
    cfg = _config(input=f"{data}/d2/02", models=str(tmp_path / "run"), train=f"{data}/d2/01")
    run = resolve({**cfg, "models": ""})
    with pytest.raises(ConfigError, match="nothing is trained here; remove 'train'"):
        use_models(cfg, run)
