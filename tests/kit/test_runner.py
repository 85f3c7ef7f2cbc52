"""The notebook runner on tiny generated notebooks (the real series runs in test_notebooks.py)."""
import json

import nbformat
import pytest

from singanseg_lib import cli
from singanseg_lib.kit import runner

HEADER = '''preset: str = "classroom"  # set by the runner
run_dir: str = "../runs/classroom"  # set by the runner
seed: int = 0  # random seed
interactive: bool = True  # widgets (JupyterLab); the runner sets False
'''


def _notebook(path, params, body):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(HEADER + params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


WRITE = '''import json, pathlib
out = pathlib.Path(run_dir) / NAME
out.mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({"seed": seed, "preset": preset, **VALUES}))
'''


@pytest.fixture
def series(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    _notebook(d / "00_alpha.ipynb", "n: int = 2  # a count\n",
              WRITE.replace("NAME", "'00_alpha'").replace("VALUES", "{'n': n}"))
    _notebook(d / "01_beta.ipynb", "fail: bool = False  # raise\nlabel: str = 'x'  # a name\n",
              "x = 1\nif fail:\n    raise ValueError('boom')\n" +
              WRITE.replace("NAME", "'01_beta'").replace("VALUES", "{'label': label}"))
    (d / "notes.ipynb").write_text("{}")  # not NN_name: not part of the series
    preset = tmp_path / "mine.yaml"
    preset.write_text("seed: 3\nn: 5\nlabel: from_preset\n")  # label: only 01_beta's
    return d, preset


def _metrics(run_dir, name):
    return json.loads((run_dir / name / "metrics.json").read_text())


def test_runs_series_with_preset_and_overrides(series, tmp_path):
    d, preset = series
    run_dir = runner.run_notebooks(preset, {"n": "7", "label": "123"}, notebook_dir=d,
                                   run_dir=tmp_path / "out", progress=False)
    assert _metrics(run_dir, "00_alpha") == {"seed": 3, "preset": "mine", "n": 7}
    assert _metrics(run_dir, "01_beta")["label"] == "123"  # a str parameter stays a str
    assert (run_dir / "00_alpha.ipynb").exists() and (run_dir / "01_beta.ipynb").exists()
    summary = json.loads((run_dir / "run.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["done", "done"]


def test_unknown_or_mistyped_parameter_rejected_before_running(series, tmp_path):
    d, preset = series
    with pytest.raises(KeyError, match="nn"):
        runner.run_notebooks(preset, {"nn": "7"}, notebook_dir=d, run_dir=tmp_path / "out")
    with pytest.raises(TypeError, match="n is int"):
        runner.run_notebooks(preset, {"n": "many"}, notebook_dir=d, run_dir=tmp_path / "out")
    with pytest.raises(ValueError, match="set by the runner"):
        runner.run_notebooks(preset, {"run_dir": "x"}, notebook_dir=d, run_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_overrides_read_by_the_declared_type(series, tmp_path):
    d, preset = series
    _, plans = runner.plan_run(preset, {"fail": "off", "label": "no", "n": "12"}, notebook_dir=d, run_dir=tmp_path)
    assert plans[0].parameters["n"] == 12 and plans[1].parameters["fail"] is False
    assert plans[1].parameters["label"] == "no"  # a str stays the text typed, not YAML's False
    with pytest.raises(TypeError, match="01_beta.ipynb: parameter fail is bool; -p fail: expected a bool "
                                        r"\(true/false/on/off/yes/no\), got 'maybe'"):
        runner.plan_run(preset, {"fail": "maybe"}, notebook_dir=d, run_dir=tmp_path)


def test_a_preset_key_of_no_notebook_is_refused_one_of_another_notebook_kept(series, tmp_path):
    d, preset = series
    _, plans = runner.plan_run(preset, only=["00"], notebook_dir=d, run_dir=tmp_path)
    assert plans[0].ignored == ["label"] and "label" not in plans[0].parameters  # 01_beta's, not run here
    preset.write_text(preset.read_text() + "unused_here: 1\nlabl: y\n")
    with pytest.raises(KeyError, match=r"mine\.yaml: labl, unused_here is not a parameter of any notebook; the "
                                       "notebooks take: fail, interactive, label, n, seed"):
        runner.plan_run(preset, only=["00"], notebook_dir=d, run_dir=tmp_path)


def test_subset_by_number_or_name(series, tmp_path):
    d, preset = series
    nbs = runner.list_notebooks(d)
    assert [p.stem for p in nbs] == ["00_alpha", "01_beta"]
    assert [p.stem for p in runner.select_notebooks(nbs, ["beta"])] == ["01_beta"]
    assert [p.stem for p in runner.select_notebooks(nbs, ["01", "00_alpha"])] == ["00_alpha", "01_beta"]
    with pytest.raises(KeyError, match="00_alpha, 01_beta"):
        runner.select_notebooks(nbs, ["gamma"])
    # a notebook slotted in after 00 (as 05b_privacy after 05_metrics) sorts between, picked by its own number
    _notebook(d / "00b_extra.ipynb", "", WRITE.replace("NAME", "'00b_extra'").replace("VALUES", "{}"))
    nbs = runner.list_notebooks(d)
    assert [p.stem for p in nbs] == ["00_alpha", "00b_extra", "01_beta"]
    assert [p.stem for p in runner.select_notebooks(nbs, ["00b"])] == ["00b_extra"]
    assert [p.stem for p in runner.select_notebooks(nbs, ["00", "extra"])] == ["00_alpha", "00b_extra"]
    assert [p.stem for p in runner.select_notebooks(nbs, ["00"])] == ["00_alpha"]
    (d / "00b_extra.ipynb").unlink()
    # a parameter only 01 declares is unknown when only 00 runs
    with pytest.raises(KeyError, match="fail"):
        runner.plan_run(preset, {"fail": "true"}, only=["00"], notebook_dir=d)


def test_failure_names_notebook_and_cell_and_exits_nonzero(series, tmp_path, capsys):
    d, preset = series
    code = cli.main(["run", "--preset", str(preset), "--notebooks", str(d), "--run-dir", str(tmp_path / "out"),
                     "-p", "fail", "true", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "01_beta.ipynb failed in cell 3" in err and "ValueError: boom" in err
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["done", "failed"]


def test_notebook_without_required_parameters_rejected(tmp_path):
    d = tmp_path / "nb"
    d.mkdir()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("seed: int = 0  # seed\n")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, d / "00_x.ipynb")
    with pytest.raises(ValueError, match="lacks preset, run_dir, interactive"):
        runner.plan_run("smoke", notebook_dir=d)


def test_headless_runs_show_no_widgets_unless_asked(series, tmp_path):
    d, preset = series
    _, plans = runner.plan_run(preset, notebook_dir=d, run_dir=tmp_path / "out")
    assert [p.parameters["interactive"] for p in plans] == [False, False]  # the notebooks' default is True
    _, plans = runner.plan_run(preset, {"interactive": "true"}, notebook_dir=d, run_dir=tmp_path / "out")
    assert [p.parameters["interactive"] for p in plans] == [True, True]
