"""The explorers in a real browser: JupyterLab on a free localhost port with a token, driven
through headless Chromium (the system's package, apt's `chromium`) by Playwright.

Notebook 02 runs on a small set trained by the smoke preset; the test moves its start-scale
slider and checks that the sample redrew, that the seed box shows the manifest's seed digit for
digit, and that no cell shows a widget error or a traceback. Screenshots before and after go to
``runs/browser-test/`` (``SINGANSEG_ARTIFACTS`` names another folder). ``run_tests.sh`` installs
Chromium where it is missing and the machine allows; elsewhere this test skips, saying so.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

from singanseg_lib.kit import runner
from singanseg_lib.sampling import synthetic

pytestmark = pytest.mark.slow
WIDGET_ERRORS = ("Error displaying widget", "Traceback (most recent call last)")
EXPLORERS = ["00", "01", "02", "03", "04", "05", "06", "07"]  # the notebooks that show one


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("the browser test needs Chromium: `apt-get install chromium` (Debian/Ubuntu; run_tests.sh "
                "does it when run as root), and `pip install playwright` (in requirements.txt)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A smoke run of the series and JupyterLab serving copies of the notebooks with explorers, set
    to explore that run."""
    pytest.importorskip("playwright", reason="pip install playwright (in requirements.txt)")
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    browser = _chromium()
    root = tmp_path_factory.mktemp("lab")
    run_dir = Path(os.environ.get("SINGANSEG_BROWSER_RUN", root / "runs" / "smoke"))
    if not (run_dir / "07_small_data" / "metrics.json").exists():  # SINGANSEG_BROWSER_RUN: reuse a smoke run
        runner.run_notebooks("smoke", only=["00", "01", "02", "03", "04", "05", "06", "07"], run_dir=run_dir, progress=False)
    _, plans = runner.plan_run("smoke", only=EXPLORERS, run_dir=run_dir)
    for plan in plans:
        nb = parameterize_notebook(load_notebook_node(str(plan.notebook)), {**plan.parameters, "interactive": True})
        nbformat.write(nb, root / plan.notebook.name)
    port, token = _free_port(), secrets.token_hex(16)
    home = root / "home"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "PYTHONPATH": str(REPO)}
    # no "official Jupyter news?" toast over the notebook in the screenshots
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')
    log = (root / "lab.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
                              + (["--allow-root"] if os.geteuid() == 0 else []),
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; its log: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield {"url": url, "token": token, "browser": browser, "run_dir": run_dir,
           "notebooks": {p.notebook.stem[:2]: p.notebook.name for p in plans}}
    server.terminate()
    server.wait(timeout=30)
    log.close()


def _artifacts() -> Path:
    d = Path(os.environ.get("SINGANSEG_ARTIFACTS", REPO / "runs" / "browser-test"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=lab["browser"], args=["--no-sandbox"])
        yield b
        b.close()


def _answer_dialogs(page, number) -> None:
    """Accept a dialog JupyterLab puts up on opening (a kernel to choose, say), saying which."""
    page.wait_for_timeout(1000)
    dialogs = page.locator(".jp-Dialog")
    while dialogs.count():
        text = dialogs.first.inner_text().strip().replace("\n", " ")[:200]
        print(f"notebook {number}: JupyterLab asked {text!r}; accepted")
        dialogs.first.locator(".jp-mod-accept").first.click()
        page.wait_for_timeout(500)


def _run_all(browser, lab, number):
    """The notebook open in JupyterLab, every cell run; returns the page once an explorer's picture shows."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # a workspace of its own, reset: JupyterLab would otherwise reopen the notebooks of the last page
    page.goto(f"{lab['url']}/lab/workspaces/nb{number}/tree/{lab['notebooks'][number]}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\d+|\\*)\\]/.test(e.textContent))"
    for attempt in range(3):  # a click while the kernel is still connecting runs nothing: try again
        _answer_dialogs(page, number)
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(started, timeout=20_000)
            break
        except Exception:
            if attempt == 2:
                raise
    try:
        page.locator(".singanseg-explorer:has(.widget-output img)").last.wait_for(timeout=240_000)
    except Exception:
        page.screenshot(path=str(_artifacts() / f"{number}_no_explorer.png"), full_page=True)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        pytest.fail(f"notebook {number} showed no explorer within 4 minutes; screenshot {number}_no_explorer.png; "
                    f"kernel status {page.locator('.jp-Notebook-ExecutionIndicator').first.get_attribute('data-status')}; "
                    f"last errors: {[e[-600:] for e in errors[-2:]]}")
    return page


def _pictures_src(page) -> str:
    return page.locator(".singanseg-explorer .widget-output img").last.get_attribute("src")


def _redrawn(page, before: str) -> str:
    page.wait_for_function("(old) => { const imgs = document.querySelectorAll('.singanseg-explorer .widget-output img');"
                           " return imgs.length && imgs[imgs.length - 1].src !== old; }", arg=before, timeout=30_000)
    return _pictures_src(page)


def _shows_no_error(page) -> None:
    text = page.locator(".jp-Notebook").inner_text()
    for bad in WIDGET_ERRORS:
        assert bad not in text, f"the notebook shows {bad!r}"
    assert "Loading widget..." not in text


def test_generation_explorer_in_jupyterlab(lab, browser):
    out = _artifacts()
    page = _run_all(browser, lab, "02")
    slider = page.locator(".widget-hslider", has_text="start scale")
    before = _pictures_src(page)
    slider.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "02_explorer_before.png"))

    seed_box = page.locator(".widget-text", has_text="sample seed").locator("input")
    manifest_seed = synthetic.read_manifest(lab["run_dir"] / "02_generation" / "synthetic")[0]["seed"]
    assert manifest_seed > 2**53 and seed_box.input_value() == str(manifest_seed)

    slider.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    assert _redrawn(page, before) != before
    assert slider.locator(".widget-readout").inner_text().strip() == "1"
    page.screenshot(path=str(out / "02_explorer_after.png"))
    _shows_no_error(page)
    page.close()
    assert (out / "02_explorer_before.png").read_bytes() != (out / "02_explorer_after.png").read_bytes()


@pytest.mark.parametrize("number", [n for n in EXPLORERS if n != "02"])
def test_each_explorer_answers_its_slider(lab, browser, number):
    page = _run_all(browser, lab, number)
    box = page.locator(".singanseg-explorer:has(.widget-output img)").last
    handle = box.locator(".noUi-handle").last
    low, high, now = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax", "aria-valuenow"))
    if high > low:  # a smoke run may leave a slider with one position only
        before = _pictures_src(page)
        handle.focus()
        page.keyboard.press("ArrowLeft" if now == high else "ArrowRight")
        assert _redrawn(page, before) != before
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(_artifacts() / f"{number}_explorer.png"))
    _shows_no_error(page)
    page.close()
