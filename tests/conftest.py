"""Shared test fixtures: paths to the repository, the bundled sample and the shared folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_dir() -> Path | None:
    """The workplace's ``shared/`` folder (full Kvasir-SEG, reference fixtures), if reachable.

    ``SINGANSEG_SHARED`` names it explicitly; otherwise a ``shared/`` beside or above the checkout.
    """
    if os.environ.get("SINGANSEG_SHARED"):
        return Path(os.environ["SINGANSEG_SHARED"])
    for parent in REPO.parents:
        if (parent / "shared" / "SPEC.md").is_file():
            return parent / "shared"
    return None


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def full_kvasir() -> Path:
    """All 1,000 Kvasir-SEG pairs from shared/; tests using it skip where shared/ is absent."""
    shared = shared_dir()
    if shared is None or not (shared / "data" / "kvasir-seg" / "images").is_dir():
        pytest.skip("shared/data/kvasir-seg not reachable (set SINGANSEG_SHARED)")
    return shared / "data" / "kvasir-seg"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Hermetic weights: no network, an empty torch hub cache and no $SINGANSEG_WEIGHTS_DIR,
    whatever this machine has. Returns the test's tmp_path."""
    import urllib.error

    from singanseg_lib.kit import weights

    def refuse(url, timeout):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(weights, "_open_url", refuse)
    monkeypatch.setattr(weights, "_FAILED_DOWNLOADS", {})
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_DIR, raising=False)
    return tmp_path
