"""Widget explorers for JupyterLab: one function per notebook that has one, each returning an
ipywidgets ``VBox`` of controls above a figure (:func:`explorer`). Notebooks show them when
``interactive`` is true, their default; the runner sets it false, so papermill runs show none.

Every explorer keeps what it last drew (``shown``: the figure's pixels, ``caption``: its title),
so a test can move a control and check that the picture changed without a browser. Seeds travel
as text: a browser holds numbers as 53-bit floats, and the kit's 63-bit sample seeds (those in
manifest.csv) would come back as other seeds from a number box. Each explorer carries the CSS class
:data:`CSS_CLASS`.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

__all__ = ["explorer", "sample_explorer", "pair_explorer", "scale_explorer", "style_explorer", "sifid_explorer",
           "prediction_explorer", "gan_explorer", "parse_seed"]


CSS_CLASS = "singanseg-explorer"  # how a browser (tests/test_browser.py) finds an explorer on the page


def parse_seed(text: str) -> int:
    """A seed typed in a box: digits only, 0 <= seed <= 2**63 - 1 (a ``ValueError`` says why not)."""
    from singanseg_lib.sampling.generate import MAX_SEED

    t = str(text).strip()
    if not t.isdigit() or int(t) > MAX_SEED:
        raise ValueError(f"a seed is a whole number from 0 to {MAX_SEED}; got {text!r}")
    return int(t)


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def explorer(controls: list, draw: Callable[[], object]):
    """A ``VBox``: ``controls`` in a row above an output area that shows ``draw()``'s figure,
    redrawn whenever a control's value changes. Attributes: ``controls``, ``shown`` (the last
    figure's RGB pixels), ``caption`` (its title), ``message`` (the last input error, if any)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output, display

    out = widgets.Output()
    note = widgets.HTML()
    box = widgets.VBox([widgets.HBox(controls), note, out])
    box.add_class(CSS_CLASS)
    box.controls, box.shown, box.caption, box.message = controls, None, "", ""

    def update(_=None):
        try:
            fig = draw()
        except ValueError as e:  # a bad value typed in a box: say so, keep the last picture
            box.message = note.value = str(e)
            return
        box.message = note.value = ""
        box.shown = _pixels(fig)
        box.caption = fig.get_suptitle()
        with out:
            clear_output(wait=True)
            display(fig)
        plt.close(fig)

    for c in controls:
        c.observe(update, names="value")
    update()
    return box


def sample_explorer(pyramids: Mapping, *, seed: int = 0):
    """Notebook 02: model, start scale and sample seed; the sample with its mask.

    ``pyramids`` maps names to trained :class:`SinGANPyramid` models. The seed is a sample's own
    seed, so a ``seed`` from a set's manifest.csv shows that very sample again. Samples are
    cached, so moving back to a setting answers at once.
    """
    import ipywidgets as widgets

    from singanseg_lib.sampling.generate import generate_from_seeds
    from singanseg_lib.viz.generation import plot_sample

    first = next(iter(pyramids.values()))
    model = widgets.Dropdown(options=list(pyramids), description="model")
    start = widgets.IntSlider(value=0, min=0, max=first.plan.num_scales, description="start scale")
    seed_box = widgets.Text(value=str(parse_seed(seed)), description="sample seed", continuous_update=False)
    cache: dict = {}

    def draw():
        pyr = pyramids[model.value]
        start.max = pyr.plan.num_scales
        key = (model.value, start.value, parse_seed(seed_box.value))
        if key not in cache:
            s = generate_from_seeds(pyr, [key[2]], start_scale=key[1])
            cache[key] = (s.images[0], s.masks[0])
        image, mask = cache[key]
        return plot_sample(image, mask, title=f"{key[0]}: start scale {key[1]}, seed {key[2]}")

    return explorer([model, start, seed_box], draw)


def gan_explorer(trained: Mapping, *, seed: int = 0):
    """Notebook 05c: baseline GAN and sample seed; the sample with its generated mask.

    ``trained`` maps names to :class:`~singanseg_lib.baselines.train.TrainedGAN`; a ``seed`` from a
    GAN set's manifest.csv shows that sample again. Samples are cached.
    """
    import ipywidgets as widgets

    from singanseg_lib.baselines.samples import sample
    from singanseg_lib.viz.generation import plot_sample

    gan = widgets.Dropdown(options=list(trained), description="GAN")
    seed_box = widgets.Text(value=str(parse_seed(seed)), description="sample seed", continuous_update=False)
    cache: dict = {}

    def draw():
        key = (gan.value, parse_seed(seed_box.value))
        if key not in cache:
            cache[key] = sample(trained[key[0]], [key[1]])[0]
        x = cache[key]
        return plot_sample(x[:3], x[3] > 0, title=f"{key[0]}: seed {key[1]}")

    return explorer([gan, seed_box], draw)


def pair_explorer(dataset):
    """Notebook 00: every image/mask pair of a data set, one at a time."""
    import ipywidgets as widgets

    from singanseg_lib.viz.data import plot_pairs

    pick = widgets.IntSlider(value=0, min=0, max=len(dataset) - 1, description="pair")

    def draw():
        fig = plot_pairs([dataset[pick.value]], cols=1, longest=640)
        fig.suptitle(f"pair {pick.value}: {dataset[pick.value].id}")
        return fig

    return explorer([pick], draw)


def prediction_explorer(images: np.ndarray, masks: np.ndarray, predictions: Mapping[str, np.ndarray]):
    """Notebooks 06 and 07: one validation image, its true mask and each training set's prediction."""
    import ipywidgets as widgets

    from singanseg_lib.viz.segment import plot_predictions

    pick = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")

    def draw():
        i = pick.value
        fig = plot_predictions(images[i:i + 1], masks[i:i + 1], {k: v[i:i + 1] for k, v in predictions.items()})
        fig.suptitle(f"validation image {i}: truth vs predictions")
        return fig

    return explorer([pick], draw)


def scale_explorer(reals: list, reconstructions: list, errors: list[float]):
    """Notebook 01: one scale of the pyramid, the real image next to the model's reconstruction."""
    import ipywidgets as widgets

    from singanseg_lib.viz.core import image_grid, overlay_mask

    pick = widgets.IntSlider(value=len(reals) - 1, min=0, max=len(reals) - 1, description="scale")

    def draw():
        s = pick.value
        real, rec = reals[s][0].detach().float().cpu(), reconstructions[s][0].detach().float().cpu()
        h, w = real.shape[-2:]
        return image_grid([[overlay_mask(x[:3], x[3] > 0) for x in (real, rec)]], titles=[["real", "reconstruction"]],
                          suptitle=f"scale {s}: {h}x{w} px, reconstruction MSE {errors[s]:.4f}", size=3.0)

    return explorer([pick], draw)


def style_explorer(examples: list[dict]):
    """Notebook 04: one generated image, its real style image and every content:style ratio."""
    import ipywidgets as widgets

    from singanseg_lib.viz.core import image_grid

    ratios = list(examples[0]["styled"])
    pick = widgets.IntSlider(value=0, min=0, max=len(examples) - 1, description="example")

    def draw():
        ex = examples[pick.value]
        return image_grid([[ex["real"], ex["generated"], *[ex["styled"][r] for r in ratios]]],
                          titles=[["real (style)", "generated (content)", *[f"ST {r}" for r in ratios]]],
                          suptitle=f"{ex['name']}: style transfer at each content:style ratio", size=2.6)

    return explorer([pick], draw)


def sifid_explorer(results: Mapping, pairs: Mapping):
    """Notebook 05: per synthetic set, its images from the lowest SIFID to the highest, each next to
    its real image. ``results``: {set name: SifidResult}; ``pairs``: {set name: [MatchedPair]}."""
    import ipywidgets as widgets

    from singanseg_lib.data.images import read_image
    from singanseg_lib.viz.core import image_grid

    which = widgets.Dropdown(options=list(results), description="set")
    rank = widgets.IntSlider(value=0, min=0, max=len(next(iter(results.values())).values) - 1, description="rank")
    by_name = {name: {p.name: p for p in ps} for name, ps in pairs.items()}

    def draw():
        values = results[which.value].values
        order = sorted(values, key=values.get)
        rank.max = len(order) - 1
        name = order[min(rank.value, len(order) - 1)]
        pair = by_name[which.value][name]
        return image_grid([[read_image(pair.real), read_image(pair.synthetic)]], titles=[["real", "synthetic"]],
                          suptitle=f"{which.value}: {name}, SIFID {values[name]:.4g} (rank {rank.value + 1} of {len(order)})",
                          size=3.0)

    return explorer([which, rank], draw)
