"""Download, unpacking and import of published generators, against a loopback HTTP server."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from loopback import closed_port_url, serve
from PIL import Image
from reference_fakes import FIXTURE

from singanseg_lib.cli import main as cli_main
from singanseg_lib.kit.download import DownloadError
from singanseg_lib.published import download as pretrained
from singanseg_lib.singan import checkpoint

IDS = ("cju0qkwl35piu0993l0dewei2", "cju0qoxqj9q6s0835b43399p4")


def _models_zip(ids=IDS, top="TrainedModels_1_clean") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{top}/", b"")
        for i in ids:
            for name in ("Gs.pth", "Zs.pth", "NoiseAmp.pth", "reals.pth"):
                zf.write(FIXTURE / name, f"{top}/{i}/{name}")
    return buf.getvalue()


def _images_zip(folder: str, ids=IDS) -> bytes:
    png = np.asarray(Image.open(FIXTURE / "polyp_with_4_channels.png"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in ids:
            img = io.BytesIO()
            Image.fromarray(png[..., :3] if folder == "real_images" else png[..., 3]).save(img, "JPEG")
            zf.writestr(f"{folder}/{i}.jpg", img.getvalue())
    return buf.getvalue()


@pytest.fixture
def server():
    with serve({"/TrainedModels_1_clean.zip": _models_zip(), "/real_images.zip": _images_zip("real_images"),
                "/real_masks.zip": _images_zip("real_masks")}) as s:
        yield s


def _urls(server):
    return {"1": server.url("/TrainedModels_1_clean.zip?dl=1"), "real_images": server.url("/real_images.zip?dl=1"),
            "real_masks": server.url("/real_masks.zip?dl=1")}


def test_urls_come_from_the_package_configuration():
    assert [pretrained.archive_name(u) for u in pretrained.PUBLISHED_URLS.values()] == \
        [f"TrainedModels_{i}_clean.zip" for i in (1, 2, 3, 4)]
    assert all(u.startswith("https://www.dropbox.com/s/") and u.endswith("?dl=1")
               for u in [*pretrained.PUBLISHED_URLS.values(), *pretrained.REAL_DATA_URLS.values()])


def test_download_records_unpacks_and_imports(tmp_path, server):
    dest = tmp_path / "pre"
    result = pretrained.download_published(dest, parts=(1,), urls=_urls(server), progress=False)
    manifest = json.loads(result.manifest.read_text())
    archive = manifest["archives"]["TrainedModels_1_clean.zip"]
    assert archive["sha256"] == hashlib.sha256(server.files["/TrainedModels_1_clean.zip"]).hexdigest()
    assert archive["bytes"] == len(server.files["/TrainedModels_1_clean.zip"]) and archive["unpacked"]
    gs = manifest["files"][f"TrainedModels_1_clean/{IDS[0]}/Gs.pth"]
    assert gs["sha256"] == hashlib.sha256((FIXTURE / "Gs.pth").read_bytes()).hexdigest()
    assert len(manifest["files"]) == 2 * 4 + 2 + 2
    assert sorted(p.name for p in result.models) == sorted(IDS)
    loaded = checkpoint.load_model(pretrained.published_model(IDS[1], dest))
    src = loaded.meta["source"]
    assert src["image_id"] == IDS[1] and src["image_path"].endswith(f"real_images/{IDS[1]}.jpg")
    assert src["mask_path"].endswith(f"real_masks/{IDS[1]}.jpg") and src["original_size_known"]
    assert loaded.pyramid.plan.original_size == (529, 622) and src["weights"] == pretrained.PUBLISHED_WEIGHTS
    n = len(server.requests)
    # what an unpacking killed part-way leaves: a dot folder with the same model folders, to be ignored
    ref = dest / "reference"
    shutil.copytree(ref / "TrainedModels_1_clean", ref / ".TrainedModels_1_clean.partial-x")
    pretrained.download_published(dest, parts=(1,), urls=_urls(server), progress=False)
    assert len(server.requests) == n, "a finished download was fetched again"


def test_interrupted_download_resumes(tmp_path, server):
    data = server.files["/TrainedModels_1_clean.zip"]
    server.cut_after["/TrainedModels_1_clean.zip"] = len(data) // 3
    dest = tmp_path / "pre"
    with pytest.raises(DownloadError, match="TrainedModels_1_clean.zip.partial.*run again to resume"):
        pretrained.download_published(dest, parts=(1,), urls=_urls(server), real_images=False, progress=False)
    partial = dest / "archives" / "TrainedModels_1_clean.zip.partial"
    assert partial.stat().st_size == len(data) // 3 and not (dest / "archives" / "TrainedModels_1_clean.zip").exists()
    result = pretrained.download_published(dest, parts=(1,), urls=_urls(server), real_images=False, progress=False)
    assert server.requests[-1] == ("/TrainedModels_1_clean.zip", f"bytes={len(data) // 3}-")
    assert (dest / "archives" / "TrainedModels_1_clean.zip").read_bytes() == data and not partial.exists()
    assert len(result.models) == 2


def test_truncated_archive_is_refused_and_set_aside(tmp_path, server):
    data = server.files["/TrainedModels_1_clean.zip"]
    server.files["/TrainedModels_1_clean.zip"] = data[: len(data) // 2]  # complete transfer of a short file
    dest = tmp_path / "pre"
    with pytest.raises(ValueError, match="TrainedModels_1_clean.zip: not a complete zip archive.*download it anew"):
        # the first half ends inside a stored .pth, itself a zip: the trap a plain is_zipfile falls into
        pretrained.download_published(dest, parts=(1,), urls=_urls(server), real_images=False, progress=False)
    assert not (dest / "reference").exists() and not (dest / "models").exists()
    assert (dest / "archives" / "TrainedModels_1_clean.zip.damaged").read_bytes() == data[: len(data) // 2]
    server.files["/TrainedModels_1_clean.zip"] = data
    result = pretrained.download_published(dest, parts=(1,), urls=_urls(server), real_images=False, progress=False)
    assert len(result.models) == 2


@pytest.mark.parametrize("entry", ["../evil.txt", "TrainedModels_1_clean/../../evil.txt", "/tmp/evil.txt", "link"])
def test_malicious_archive_unpacks_nothing(tmp_path, server, entry):
    buf = io.BytesIO(_models_zip())
    with zipfile.ZipFile(buf, "a") as zf:
        info = zipfile.ZipInfo(entry)
        if entry == "link":
            info.external_attr = (0o120777 << 16)  # a symlink entry pointing outside
            zf.writestr(info, "../../../../etc/passwd")
        else:
            zf.writestr(info, b"pwned")
    server.files["/TrainedModels_1_clean.zip"] = buf.getvalue()
    dest = tmp_path / "deep" / "pre"
    with pytest.raises(ValueError, match="refused, nothing was unpacked.*download it anew"):
        pretrained.download_published(dest, parts=(1,), urls=_urls(server), real_images=False, progress=False)
    assert not (dest / "reference").exists()
    assert not any(p.name == "evil.txt" for p in tmp_path.rglob("*")) and not Path("/tmp/evil.txt").exists()


def test_offline_error_names_the_url_and_the_manual_route(tmp_path):
    url = closed_port_url("/TrainedModels_2_clean.zip?dl=1")
    with pytest.raises(ConnectionError, match=r"could not download http://127.0.0.1:\d+/TrainedModels_2_clean.zip.*"
                                              r"put the file at .*archives/TrainedModels_2_clean.zip.*--archive FILE"):
        pretrained.download_published(tmp_path, parts=(2,), urls={"2": url}, real_images=False, progress=False)


def test_archive_placed_by_hand_needs_no_network(tmp_path, capsys):
    hand = tmp_path / "downloads" / "TrainedModels_3_clean.zip"
    hand.parent.mkdir()
    hand.write_bytes(_models_zip(top="TrainedModels_3_clean"))
    rc = cli_main(["pretrained", "download", "--parts", "3", "--dest", str(tmp_path / "pre"), "--archive", str(hand),
                   "--no-real-images", "--no-progress"])
    assert rc == 0 and "2 models" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "pre" / "archives" / "manifest.json").read_text())
    assert manifest["archives"]["TrainedModels_3_clean.zip"]["path"] == str(hand)
    assert checkpoint.load_model(tmp_path / "pre" / "models" / IDS[0]).complete
    rc = cli_main(["pretrained", "download", "--parts", "3", "--dest", str(tmp_path / "pre"), "--archive",
                   str(tmp_path / "other.zip"), "--no-real-images"])
    assert rc == 1 and "not one of the selected archives" in capsys.readouterr().err


def test_cli_import_single_and_many(tmp_path, capsys):
    many = tmp_path / "many"
    for i in IDS:
        shutil.copytree(FIXTURE, many / i)
    assert cli_main(["pretrained", "import", str(FIXTURE), str(tmp_path / "one"), "--original-size", "529", "622"]) == 0
    assert checkpoint.load_model(tmp_path / "one").pyramid.plan.original_size == (529, 622)
    assert cli_main(["pretrained", "import", str(many), str(tmp_path / "out"), "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(IDS)
    assert cli_main(["pretrained", "import", str(FIXTURE), str(tmp_path / "one")]) == 1
    assert "already holds a model" in capsys.readouterr().err
    evil = many / IDS[0] / "Gs.pth"
    evil.write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.")
    assert cli_main(["pretrained", "import", str(many), str(tmp_path / "out2"), "--no-progress"]) == 1
    assert "refers to 'os.system'" in capsys.readouterr().err
