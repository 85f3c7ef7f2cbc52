"""The install story: pinned requirements, environment.yml in step, the console script."""
import subprocess
import sys
import tomllib

import yaml


def _requirements(repo):
    return [line.strip() for line in (repo / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_environment_yml_matches_requirements(repo):
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == _requirements(repo)
    assert "python=3.11" in env["dependencies"]


def test_requirements_pinned(repo):
    reqs = _requirements(repo)
    assert reqs and all("==" in r for r in reqs), [r for r in reqs if "==" not in r]
    assert "torch==2.14.1" in reqs


def test_console_script_and_module_entry(repo):
    meta = tomllib.loads((repo / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["singanseg"] == "singanseg_lib.cli:main"
    out = subprocess.run([sys.executable, "-m", "singanseg_lib", "--help"], capture_output=True, text=True,
                         cwd=repo, check=True).stdout
    assert "run" in out


def test_cli_error_is_one_clear_line(repo):
    r = subprocess.run([sys.executable, "-m", "singanseg_lib", "run", "--preset", "nope"], capture_output=True,
                       text=True, cwd=repo)
    assert r.returncode == 1
    assert "unknown preset 'nope'" in r.stderr and "Traceback" not in r.stderr
