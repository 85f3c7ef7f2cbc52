"""Style transfer on a real local Ray (2 CPUs): the same styled set as the local run."""
import numpy as np
import pytest
import torch
from toy_sets import make_reals, make_set

from singanseg_lib.data.images import read_image
from singanseg_lib.kit.backends import RayBackend
from singanseg_lib.kit.weights import random_weights
from singanseg_lib.sampling.manifest import read_manifest
from singanseg_lib.style import transfer as style

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_styles_the_set_the_local_run_styles(local_ray, tmp_path):
    reals = make_reals(tmp_path / "real", n=2, size=(40, 48))
    toy_set = make_set(tmp_path / "synthetic", reals, samples=3, size=(36, 30), relative_source=True)
    vgg = style.load_vgg19(weights=random_weights("vgg19"))  # the tasks rebuild it from its seed
    threads = torch.get_num_threads()
    try:  # one thread, as each Ray task has: the same arithmetic
        torch.set_num_threads(1)
        local = style.style_set(toy_set, steps=3, batch_size=4, vgg=vgg, out_dir=tmp_path / "local", progress=False)
    finally:
        torch.set_num_threads(threads)
    on_ray = style.style_set(toy_set, steps=3, batch_size=4, vgg=vgg, out_dir=tmp_path / "ray", progress=False,
                             backend=RayBackend())
    assert local.written == on_ray.written == 6 and on_ray.losses == local.losses
    rows = read_manifest(tmp_path / "ray")
    assert sorted(map(str, rows)) == sorted(map(str, read_manifest(tmp_path / "local")))
    for row in rows:
        assert np.array_equal(read_image(tmp_path / "ray" / row["image"]), read_image(tmp_path / "local" / row["image"]))
        assert (tmp_path / "ray" / row["mask"]).read_bytes() == (toy_set / row["mask"]).read_bytes()
    again = style.style_set(toy_set, steps=3, batch_size=4, vgg=vgg, out_dir=tmp_path / "ray", progress=False,
                            backend="ray")
    assert (again.written, again.skipped) == (0, 6)
