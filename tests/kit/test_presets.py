from dataclasses import dataclass
from typing import Literal

import pytest

from singanseg_lib import cli
from singanseg_lib.kit import presets


@dataclass(frozen=True)
class Cfg:
    steps: int = 10
    lr: float = 0.1
    mode: Literal["a", "b"] = "a"
    size: tuple[int, int] = (4, 4)
    name: str | None = None
    switch: Literal["auto", "on", "off"] = "auto"
    flag: bool = True
    count: int | str = 1


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


def test_a_preset_file_says_on_off_unquoted(tmp_path):
    """YAML reads ``switch: off`` as False; for a Literal of words it is the word, for a bool the bool."""
    p = tmp_path / "mine.yaml"
    p.write_text("switch: off\nflag: on\n")
    cfg = presets.config_from_preset(Cfg, p)
    assert cfg.switch == "off" and cfg.flag is True
    p.write_text("switch: yes\n")  # YAML's True, but "yes" is not a choice: still refused, naming them
    with pytest.raises(TypeError, match="Cfg.switch: 'yes' is not one of 'auto', 'on', 'off'"):
        presets.config_from_preset(Cfg, p)


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


def test_parse_value_reads_what_a_user_types_by_the_declared_type():
    typed = {"switch": "off", "flag": "off", "steps": "20", "lr": "5e-4", "size": "[2, 3]", "name": "null",
             "count": "3", "mode": "b"}
    assert presets.parse_fields(Cfg, typed) == dict(switch="off", flag=False, steps=20, lr=5e-4, size=(2, 3),
                                                    name=None, count=3, mode="b")
    assert [presets.parse_value("f", w, bool) for w in ("true", "On", "YES", "no", "False")] == [True] * 3 + [False] * 2
    assert presets.parse_value("c", "many", int | str) == "many" and presets.parse_value("n", "off", str | None) == "off"
    assert presets.parse_value("s", "4,5", tuple[int, int]) == (4, 5)
    for field, raw, match in [("switch", "maybe", "'maybe' is not one of 'auto', 'on', 'off'"),
                              ("switch", "yes", "'yes' is not one of"), ("flag", "maybe", "true/false/on/off/yes/no"),
                              ("steps", "1.5", "Cfg.steps: expected an int, got '1.5'"), ("lr", "fast", "a number"),
                              ("size", "[1, 2, 3]", "expected 2 items"), ("size", "[1, x]", r"Cfg.size\[1\]")]:
        with pytest.raises(TypeError, match=match):
            presets.parse_fields(Cfg, {field: raw})
    with pytest.raises(KeyError, match="stepz.*valid: steps, lr"):
        presets.parse_fields(Cfg, {"stepz": "3"})


def test_train_set_takes_typed_values(tmp_path, capsys):
    """``--set compile_steps off`` (YAML would make it False) builds the config; the run then stops at the
    missing image, after the config. A wrong value stops before, naming the choices."""
    args = ["train", str(tmp_path / "none.png"), "--preset", "smoke", "--device", "cpu", "--no-progress"]
    assert cli.main(args + ["--set", "compile_steps", "off", "--set", "deterministic", "no"]) == 1
    assert "none.png: no such image or folder" in capsys.readouterr().err
    assert cli.main(args + ["--set", "compile_steps", "maybe"]) == 1
    assert "TrainConfig.compile_steps: 'maybe' is not one of 'auto', 'on', 'off'" in capsys.readouterr().err
    assert cli.main(args + ["--set", "iters_per_scale", "5", "--set", "iters_per_scale", "6"]) == 1
    assert "--set iters_per_scale given twice" in capsys.readouterr().err


def test_train_set_builds_the_config():
    import argparse

    from singanseg_lib.cli import train

    cfg = train._config(argparse.Namespace(fields=[["compile_steps", "off"], ["lr_g", "5e-4"], ["betas", "0.4,0.9"]],
                                           device="cpu", preset="smoke"))
    assert (cfg.compile_steps, cfg.lr_g, cfg.betas, cfg.device) == ("off", 5e-4, (0.4, 0.9), "cpu")
