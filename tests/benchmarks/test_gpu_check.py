"""benchmarks/gpu_check.sh --dry-run: the GPU script runs on a CPU, with only what the GPU machine has."""
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO
from safetensors.torch import load_file

# What the GPU machine lacks (it has torch, numpy, safetensors, PyYAML, tqdm, Pillow): the
# training part must not import any of these.
ABSENT_ON_GPU = ("pandas", "matplotlib", "scipy", "seaborn", "torchvision", "segmentation_models_pytorch", "timm",
                 "pytorch_fid", "albumentations", "papermill", "IPython", "ipywidgets")
# A module that is found but fails when imported: torch looks some of them up (find_spec) without
# importing them, which must keep working.
GUARD = f"""
import importlib.machinery, runpy, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_GPU!r}:
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        raise ImportError(f"{{module.__name__}} is not on the GPU machine")
sys.meta_path.insert(0, Absent())
sys.argv = ["gpu_check.py", *sys.argv[1:]]
runpy.run_path("benchmarks/gpu_check.py", run_name="__main__")
"""


@pytest.mark.slow
def test_dry_run_measures_every_section_and_scores_on_a_cpu(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", GUARD, "--dry-run", "--out", str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check_dry_run.json").read_text())
    assert result["dry_run"] and len(result["per_scale"]) == len(result["plan"]["sizes"]) == len(result["fused"])
    assert all(r["ours_ms"] > 0 and r["reference_ms"] > 0 for r in result["per_scale"])
    assert all(set(r["ms_per_model_iteration"]) == {"M1", "M2", "M4"} for r in result["fused"])
    hours = result["projection"]["gpu_hours"]
    assert all(isinstance(hours[k], float) and hours[k] > 0 for k in
               ("one_model_per_process_fp32", "fused_best_m_fp32", "reference_equivalent_fp32"))
    assert result["precision"]["tf32"] == {"skipped": "TF32 is a CUDA setting"}
    assert result["precision"]["bf16"]["rec_mse_finest"] > 0
    samples = load_file(tmp_path / "gpu_check_dry_run_samples.safetensors")
    assert set(samples) == {"fp32", "bf16", "real"} and samples["fp32"].shape[0] == 2

    scored = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--score",
                             str(tmp_path / "gpu_check_dry_run_samples.safetensors")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert scored.returncode == 0, scored.stderr[-3000:]
    sifid = json.loads((tmp_path / "gpu_check_sifid.json").read_text())
    assert set(sifid["sifid"]) == {"fp32", "bf16"} and all(v["mean"] >= 0 for v in sifid["sifid"].values())
    assert "random" in sifid["weights"]
