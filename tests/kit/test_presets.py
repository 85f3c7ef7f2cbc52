from dataclasses import dataclass
from typing import Literal

import pytest

from singanseg_lib.kit import presets


@dataclass(frozen=True)
class Cfg:
    steps: int = 10
    lr: float = 0.1
    mode: Literal["a", "b"] = "a"
    size: tuple[int, int] = (4, 4)
    name: str | None = None


def test_builtin_presets_load():
    assert {"smoke", "classroom", "paper"} <= set(presets.preset_names())
    for name in presets.preset_names():
        assert isinstance(presets.load_preset(name)["seed"], int)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(KeyError, match="classroom"):
        presets.load_preset("nope")


def test_make_config_checks_names_and_types():
    cfg = presets.make_config(Cfg, {"steps": 3, "lr": 1, "size": [2, 3]})
    assert cfg == Cfg(steps=3, lr=1.0, size=(2, 3))
    with pytest.raises(KeyError, match="stepz"):
        presets.make_config(Cfg, {"stepz": 3})
    with pytest.raises(TypeError, match="steps"):
        presets.make_config(Cfg, {"steps": "3"})
    with pytest.raises(TypeError, match="mode"):
        presets.make_config(Cfg, mode="c")
    with pytest.raises(TypeError):
        presets.make_config(Cfg, steps=True)
    assert presets.make_config(Cfg, name="x").name == "x"


def test_config_from_preset_file_with_prefix(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("seed: 1\nst_steps: 5\nsteps: 7\nother: 2\n")
    assert presets.config_from_preset(Cfg, p).steps == 7
    assert presets.config_from_preset(Cfg, p, prefix="st_").steps == 5
    assert presets.config_from_preset(Cfg, p, steps=9).steps == 9
    assert presets.preset_label(p) == "mine"


@pytest.mark.parametrize("text, match", [("- a\n- b\n", "mapping"), ("a: {b: 1}\n", "flat"),
                                         ("a: [\n", "YAML"), ("1x: 2\n", "parameter name")])
def test_bad_preset_files_named(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        presets.load_preset(p)


def test_hint_from_name_reads_notebook_annotations():
    from typing import Optional

    assert presets.hint_from_name("int") is int and presets.hint_from_name("list[int]") == list[int]
    assert presets.hint_from_name("Optional[str]") == Optional[str] == presets.hint_from_name("typing.Optional[str]")
    assert presets.check_type("x", None, presets.hint_from_name("str | None")) is None
    for text in ("", "None", "MyType", "__import__('os')", "int.__class__", "list[int] | 3"):
        assert presets.hint_from_name(text) is None
