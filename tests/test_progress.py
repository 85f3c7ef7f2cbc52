"""Every progress bar obeys ``progress=False`` / ``--no-progress`` (issue 19, part 4).

Read from the library's source, so a bar added later is checked too: each ``tqdm(...)`` says
``disable=``, and a function that takes ``progress`` hands it to every callee that takes one.
"""
import ast

import pytest
from conftest import REPO

LIB = REPO / "singanseg_lib"
# Callees that get progress=False on purpose: the bar is drawn by the caller, one for all of them.
QUIET_ON_PURPOSE = {
    ("singan/many.py", "train_one"),  # a finished model is loaded, not trained: no bar to draw
}


def _modules():
    return {p.relative_to(LIB).as_posix(): ast.parse(p.read_text()) for p in sorted(LIB.rglob("*.py"))}


def _progress_position(fn: ast.FunctionDef) -> int | None:
    """Where ``progress`` sits among the positional parameters (None if keyword-only or absent)."""
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return names.index("progress") if "progress" in names else None


def _takers(modules) -> dict[str, ast.FunctionDef]:
    takers = {}
    for tree in modules.values():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and "progress" in [a.arg for a in fn.args.args + fn.args.kwonlyargs]:
                takers[fn.name] = fn
    return takers


def _calls_without_progress(modules):
    takers = _takers(modules)
    for path, tree in modules.items():
        for fn in ast.walk(tree):
            if not (isinstance(fn, ast.FunctionDef) and fn.name in takers and takers[fn.name] is fn):
                continue
            for call in ast.walk(fn):
                if not isinstance(call, ast.Call):
                    continue
                name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
                if name not in takers or (path, name) in QUIET_ON_PURPOSE:
                    continue
                pos = _progress_position(takers[name])
                # progress_bar: papermill's own name for it (runner.execute_notebook)
                if any(k.arg in ("progress", "progress_bar", None) for k in call.keywords) or (pos is not None and len(call.args) > pos):
                    continue
                yield f"{path}:{call.lineno}: {fn.name} calls {name} without its progress"


def test_every_bar_can_be_disabled():
    missing = [f"{path}:{call.lineno}" for path, tree in _modules().items() for call in ast.walk(tree)
               if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "tqdm"
               and not any(k.arg == "disable" for k in call.keywords)]
    assert not missing, f"tqdm bars without disable=: {missing}"


def test_progress_is_handed_on_to_every_callee_that_draws_a_bar():
    assert not list(_calls_without_progress(_modules()))


def test_the_check_finds_a_callee_left_drawing():
    """The check itself: a caller that drops ``progress`` is found."""
    bad = ast.parse("def bar(x, *, progress=True): pass\n"
                    "def outer(progress=True):\n    bar(1)\n    bar(1, progress=progress)\n")
    assert list(_calls_without_progress({"bad.py": bad})) == ["bad.py:3: outer calls bar without its progress"]


@pytest.mark.parametrize("loader,module", [("load_vgg19", "singanseg_lib.style.transfer"),
                                           ("load_inception", "singanseg_lib.metrics.inception")])
def test_weight_loaders_pass_progress_to_the_download(monkeypatch, loader, module):
    """A missing VGG19 / Inception is downloaded under the caller's ``progress`` (style_set, sifid, fid)."""
    import importlib

    mod = importlib.import_module(module)
    seen = []

    class Stop(Exception):
        pass

    def fake_resolve(name, **kw):
        seen.append(kw.get("progress"))
        raise Stop

    monkeypatch.setattr(mod, "resolve_weights", fake_resolve)
    with pytest.raises(Stop):
        getattr(mod, loader)(progress=False)
    assert seen == [False]
