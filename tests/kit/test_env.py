import pytest
import torch

from singanseg_lib.kit import env


def test_same_seed_same_numbers():
    g1 = env.seed_everything(7)
    a = torch.rand(3), torch.rand(3, generator=g1)
    g2 = env.seed_everything(7)
    b = torch.rand(3), torch.rand(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    env.seed_everything(8)
    assert not torch.equal(torch.rand(3), a[0])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_rejected(bad):
    with pytest.raises(ValueError):
        env.seed_everything(bad)


def test_device_resolution():
    assert env.resolve_device("cpu") == torch.device("cpu")
    assert env.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        env.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no usable CUDA"):
            env.resolve_device("cuda")


def test_environment_info_names_versions():
    info = env.environment_info("cpu")
    assert info["torch"] == torch.__version__ and info["device"] == "cpu"
