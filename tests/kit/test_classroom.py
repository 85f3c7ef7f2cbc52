"""Student copies (kit/classroom.py): no solution survives, the rest is kept, and a copy runs."""
import json

import nbformat
import pytest
from conftest import REPO

from singanseg_lib import cli
from singanseg_lib.kit import classroom, runner

TEACHER = REPO / "notebooks"


def _solution_lines(source: str) -> list[str]:
    """The lines between the markers (what a student must not see)."""
    out, inside = [], False
    for line in source.splitlines():
        if classroom.BEGIN in line:
            inside = True
        elif classroom.END in line:
            inside = False
        elif inside and line.strip("# ").strip():
            out.append(line.strip())
    return out


def _tiny():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Guess first.\n\n### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION\nThen run."),
        nbformat.v4.new_code_cell("x = 1\nif True:\n    ### BEGIN SOLUTION\n    y = x * 42\n    ### END SOLUTION\nprint(y)"),
        nbformat.v4.new_code_cell("assert y == 42", metadata={"tags": ["check"]}),
        nbformat.v4.new_code_cell("z = 3"),
    ]
    return nb


def test_solutions_become_stubs_and_the_rest_stays():
    nb = _tiny()
    st = classroom.student_notebook(nb, "tiny.ipynb")
    md, code, check, plain = st.cells
    assert "42" not in md.source and classroom.MARKDOWN_STUB in md.source and md.source.startswith("Guess first.")
    assert code.source == f"x = 1\nif True:\n    {classroom.CODE_STUB}\nprint(y)"  # indented as the solution was
    assert code.metadata["tags"] == ["raises-exception"] and check.metadata["tags"] == ["check", "raises-exception"]
    assert check.source == "assert y == 42" and plain.source == "z = 3" and "tags" not in plain.metadata
    assert "BEGIN SOLUTION" in nb.cells[1].source  # the teacher's notebook is left as it was


def test_unbalanced_markers_name_the_notebook_and_cell():
    nb = _tiny()
    nb.cells[3].source = "### BEGIN SOLUTION\nz = 3"
    with pytest.raises(ValueError, match=r"tiny.ipynb, cell 3: 1 '### BEGIN SOLUTION' but 0"):
        classroom.student_notebook(nb, "tiny.ipynb")


def test_the_series_student_copies_hold_no_solution(tmp_path):
    written = classroom.write_student_copies(TEACHER, tmp_path / "students")
    assert [p.name for p in written] == [p.name for p in runner.list_notebooks(TEACHER)]
    exercises = 0
    for teacher_path, student_path in zip(runner.list_notebooks(TEACHER), written):
        teacher = nbformat.read(teacher_path, as_version=4)
        student = nbformat.read(student_path, as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, student_path.name
        hidden = [line for c in teacher.cells for line in _solution_lines(c.source)]
        elsewhere = "\n".join(line for c in teacher.cells for line in c.source.splitlines()
                              if line.strip() not in hidden)
        for line in hidden:
            if line not in elsewhere:  # a line also outside any solution may stay
                assert line not in text, f"{student_path.name} shows the solution line {line!r}"
        assert len(student.cells) == len(teacher.cells)
        assert any("## Learning objectives" in c.source for c in student.cells), f"{teacher_path.name} has no objectives"
        exercises += sum(classroom.BEGIN in c.source for c in teacher.cells if c.cell_type == "code")
    assert exercises >= 3


def test_copies_are_not_overwritten_unless_asked(tmp_path, capsys):
    out = tmp_path / "students"
    assert cli.main(["classroom", "student", str(out)]) == 0
    assert "student notebooks" in capsys.readouterr().out
    assert cli.main(["classroom", "student", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["classroom", "student", str(out), "--overwrite"]) == 0


@pytest.mark.slow
def test_the_student_series_runs_with_only_exercise_cells_failing(tmp_path):
    """Every notebook of the series, as a student gets it, on smoke (a few minutes on 2 cores): each runs
    to its end (its metrics.json is written) and the only cells that fail are exercise and check cells."""
    students = tmp_path / "students"
    classroom.write_student_copies(TEACHER, students)
    series = runner.list_notebooks(students)
    run_dir = runner.run_notebooks("smoke", notebook_dir=students, run_dir=tmp_path / "run", progress=False)
    summary = json.loads((run_dir / "run.json").read_text())
    assert [e["notebook"] for e in summary["notebooks"]] == [nb.stem for nb in series]
    assert all(e["status"] == "done" for e in summary["notebooks"]), summary["notebooks"]
    for nb in series:
        executed = json.loads((run_dir / nb.name).read_text())
        failed = [c for c in executed["cells"] if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        has_exercises = any(classroom.BEGIN in c.source for c in nbformat.read(TEACHER / nb.name, as_version=4).cells
                            if c.cell_type == "code")
        assert failed or not has_exercises, f"{nb.name}: the stubs should raise"
        for c in failed:
            tags = c["metadata"].get("tags", [])
            assert "raises-exception" in tags and ("exercise" in tags or "check" in tags), \
                f"{nb.name}: a cell that is no exercise failed: {''.join(c['source'])[:200]}"
        assert (run_dir / nb.stem / "metrics.json").exists(), f"{nb.name} did not run to its end"
