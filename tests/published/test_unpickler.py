"""The allow-listed unpickler (singanseg_lib.published.unpickler): payloads refused and never run,
damaged files named. Security-critical: every refusal has a positive control showing the payload is live."""
from __future__ import annotations

import time
import zipfile

import pytest
import torch
from reference_fakes import FIXTURE, copy_fixture, inject_payload, plain_unpickle_runs, rewrite_zip_pickle

from singanseg_lib.published import importer as reference
from singanseg_lib.published.unpickler import PickledObject, PthFormatError, UnsafePickleError, load_pth

# --- safety ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess.Popen", "builtins.exec/INST"])
def test_payload_inside_a_valid_gs_is_refused_and_never_runs(tmp_path, kind):
    marker = tmp_path / "pwned"
    folder = copy_fixture(tmp_path)
    inject_payload(FIXTURE / "Gs.pth", folder / "Gs.pth", kind, marker)
    name = {"os.system": "system", "builtins.exec/INST": "builtins.exec"}.get(kind, kind)
    with pytest.raises(UnsafePickleError, match=rf"Gs.pth: the pickle refers to '[a-z]*\.?{name}'"):
        reference.import_reference(folder, tmp_path / "out")
    time.sleep(0.2)
    assert not marker.exists() and not (tmp_path / "out").exists()
    # Positive control: the same bytes through an unrestricted unpickler do run the payload.
    with zipfile.ZipFile(folder / "Gs.pth") as zf:
        plain_unpickle_runs(zf.read("Gs/data.pkl"))
    for _ in range(50):
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists(), "the crafted payload is not live, so the refusal above proved nothing"


def test_reduce_payload_saved_by_torch_is_refused(tmp_path):
    """A ``__reduce__`` payload written by torch.save itself (a valid zip file)."""
    import os

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    folder = copy_fixture(tmp_path)
    torch.save([1, Payload()], folder / "NoiseAmp.pth")
    with pytest.raises(UnsafePickleError, match=r"NoiseAmp.pth: the pickle refers to '\w+\.system'"):
        reference.read_reference(folder)
    assert not marker.exists()


def test_allow_listed_names_only(tmp_path):
    """A pickle that calls an allowed class with odd arguments gets inert data, nothing more."""
    frag = b"cSinGAN.models\nConvBlock\n)R"  # ConvBlock() called through REDUCE
    dst = tmp_path / "Gs.pth"
    rewrite_zip_pickle(FIXTURE / "Gs.pth", dst, lambda p: p[:6] + frag + p[6:])
    gs, _ = load_pth(dst)
    assert len(gs) == 8 and isinstance(gs[0], PickledObject) and not isinstance(gs[0], torch.nn.Module)
    assert gs[0].qualname == "SinGAN.models.ConvBlock" and gs[0].attrs == {}
    want = r"Gs.pth\[0\]: expected a SinGAN.models.GeneratorConcatSkip2CleanAdd, found SinGAN.models.ConvBlock"
    with pytest.raises(reference.ReferenceFormatError, match=want):
        reference.generator_state(gs[0], f"{dst}[0]")


# --- damaged files -----------------------------------------------------------------------------

def test_truncated_or_corrupted_gs_is_named(tmp_path):
    folder = copy_fixture(tmp_path)
    data = (FIXTURE / "Gs.pth").read_bytes()
    (folder / "Gs.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(PthFormatError, match=r"Gs.pth: a truncated or damaged zip"):
        reference.read_reference(folder)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside a storage: the zip's CRC catches it
    (folder / "Gs.pth").write_bytes(bytes(flipped))
    with pytest.raises(PthFormatError, match=r"Gs.pth: damaged"):
        reference.read_reference(folder)
    rewrite_zip_pickle(FIXTURE / "Gs.pth", folder / "Gs.pth", lambda p: p[: len(p) // 2])
    with pytest.raises(PthFormatError, match=r"Gs.pth: damaged or not a torch checkpoint"):
        reference.read_reference(folder)
    (folder / "Gs.pth").write_text("not a checkpoint")
    with pytest.raises(PthFormatError, match="neither a zip nor a pickle"):
        reference.read_reference(folder)
    (folder / "Gs.pth").unlink()
    with pytest.raises(FileNotFoundError, match="missing Gs.pth"):
        reference.read_reference(folder)
