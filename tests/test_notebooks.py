"""The notebook series: conventions of every notebook, and each one run on the smoke preset."""
import ast
import json

import jupytext
import nbformat
import pytest
from conftest import REPO

from singanseg_lib.kit import presets, runner

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = runner.list_notebooks(NOTEBOOK_DIR)  # the series as the runner sees it (NN_name, NNx_name)
ids = [p.stem for p in NOTEBOOKS]


def _cells(nb):
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def test_series_exists():
    assert [p.stem[:2] for p in NOTEBOOKS][:1] == ["00"], "the series starts with notebook 00"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids)
def test_twin_in_sync_and_outputs_stripped(nb):
    twin = nb.with_suffix(".py")
    assert twin.exists(), f"{nb.name} has no py:percent twin; run scripts/sync_notebooks.py"
    assert twin.read_text().lstrip().startswith("# ---"), f"{twin.name} lacks the jupytext header"
    assert _cells(jupytext.read(nb)) == _cells(jupytext.read(twin)), \
        f"{nb.name} and {twin.name} differ; edit the .py and run scripts/sync_notebooks.py"
    raw = nbformat.read(nb, as_version=4)
    dirty = [i for i, c in enumerate(raw.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{nb.name}: cells {dirty} carry outputs; strip them (scripts/sync_notebooks.py)"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids)
def test_parameters_cell_annotated(nb):
    params = runner.notebook_parameters(nb)
    for name in runner.REQUIRED_PARAMETERS:
        assert name in params, f"{nb.name}: parameters cell lacks {name}"
    for name, p in params.items():
        assert p["inferred_type_name"] not in ("None", ""), f"{nb.name}: {name} has no type annotation"
        assert p["help"].strip(), f"{nb.name}: {name} has no comment saying what it is"
    source = nb.with_suffix(".py").read_text()
    assert f'start_notebook("{nb.stem}"' in source, f"{nb.name} must write into its own folder {nb.stem}/"
    code = [tags for kind, _, tags in _cells(nbformat.read(nb, as_version=4)) if kind == "code"]
    assert "parameters" in code[0], f"{nb.name}: the parameters cell must be the first code cell"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids)
def test_defaults_are_the_classroom_preset(nb):
    """Opening a notebook in JupyterLab runs the classroom preset."""
    params = runner.notebook_parameters(nb)
    classroom = presets.load_preset("classroom")
    for name, value in classroom.items():
        if name in params:
            assert ast.literal_eval(params[name]["default"]) == value, \
                f"{nb.name}: default of {name} is {params[name]['default']}, classroom preset says {value!r}"


@pytest.mark.parametrize("preset", presets.preset_names())
def test_every_preset_entry_is_a_notebook_parameter(preset):
    declared = {name for nb in NOTEBOOKS for name in runner.notebook_parameters(nb)}
    unknown = sorted(set(presets.load_preset(preset)) - declared)
    assert not unknown, f"preset {preset} sets {unknown}, which no notebook declares"


@pytest.fixture(scope="session")
def smoke_run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs") / "smoke"


@pytest.mark.notebooks
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=ids)
def test_notebook_runs_on_smoke_preset(nb, smoke_run_dir):
    """The series in order, as ``singanseg run --preset smoke`` runs it; each leaves figures and metrics."""
    run_dir, plans = runner.plan_run("smoke", only=[nb.stem], run_dir=smoke_run_dir)
    runner.execute_notebook(plans[0], run_dir, progress=False)
    out = run_dir / nb.stem
    record = json.loads((out / "metrics.json").read_text())
    assert record["notebook"] == nb.stem and record["seed"] == presets.load_preset("smoke")["seed"]
    assert record["preset"] == "smoke" and record["metrics"]
    # every parameter of the parameters cell is recorded, with the value the run gave it
    declared = runner.notebook_parameters(nb)
    assert set(declared) <= set(record["parameters"]), set(declared) - set(record["parameters"])
    for name, value in plans[0].parameters.items():
        assert record["parameters"][name] == value, name
    assert record["figures"], f"{nb.stem} saved no figure"
    for name in record["figures"]:
        assert (out / name).stat().st_size > 1000, f"{nb.stem}: figure {name} is empty"
