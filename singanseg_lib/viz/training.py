"""Figures of notebook 01 (training): the pyramid, the 4-channel input, loss curves (live and
final), reconstructions per scale, and where the time goes.

Images are tensors in [-1, 1], 1 x 4 x H x W (RGB + mask channel, mask = channel 4 > 0).
Loss histories are lists (one per scale) of ``{name: [value per iteration]}`` with the names of
``singan.losses.LOSS_NAMES`` (``train.load_history``).
"""
from __future__ import annotations

import numpy as np
import torch

from singanseg_lib.viz.core import as_uint8_image, new_figure, overlay_mask

__all__ = ["plot_pyramid", "plot_four_channels", "plot_loss_history", "LiveLossPlot", "plot_reconstructions",
           "plot_time_per_scale", "plot_iteration_breakdown"]

# The three curves a student should watch: the critic's loss, the generator's adversarial
# loss, and how well the fixed noise reproduces the real image.
_PANELS = (("d_loss", "critic loss  -D(real) + D(fake) + GP", "linear"),
           ("g_adv", "generator adversarial loss  -D(fake)", "linear"),
           ("rec_mse", "reconstruction MSE (fixed noise z_opt)", "log"))


def _overlay(x: torch.Tensor) -> np.ndarray:
    return overlay_mask(x[0, :3], x[0, 3] > 0)


def plot_pyramid(reals: list[torch.Tensor], widths: tuple[int, ...] | None = None):
    """Every scale of the real image, drawn at its true relative size, mask outlined."""
    import matplotlib.pyplot as plt

    sizes = [tuple(r.shape[-2:]) for r in reals]
    fig = plt.figure(figsize=(min(2.2 * len(reals), 16), 2.8))
    grid = fig.add_gridspec(1, len(reals), width_ratios=[w for _, w in sizes])
    tallest = max(h for h, _ in sizes)
    for s, (r, (h, w)) in enumerate(zip(reals, sizes)):
        ax = fig.add_subplot(grid[0, s])
        ax.imshow(_overlay(r.cpu()), extent=(0, w, h, 0))
        ax.set_xlim(0, w), ax.set_ylim(tallest, 0)
        ax.set_title(f"scale {s}\n{h}x{w}" + (f", width {widths[s]}" if widths else ""), fontsize=8)
        ax.axis("off")
    fig.suptitle("the image pyramid: one generator per scale, coarsest first")
    return fig


def plot_four_channels(image: torch.Tensor):
    """The training input: RGB, the mask as a 4th channel in [-1, 1], and the 4 stacked planes."""
    x = image[0].detach().cpu()
    fig, axes = new_figure(1, 3, size=3.2)
    axes[0][0].imshow(as_uint8_image(x[:3]))
    axes[0][0].set_title(f"RGB, {x.shape[1]}x{x.shape[2]} px", fontsize=9)
    axes[0][1].imshow(x[3].numpy(), cmap="gray", vmin=-1, vmax=1)
    axes[0][1].set_title(f"mask channel: +1 polyp ({float((x[3] > 0).float().mean()):.0%}), -1 background",
                         fontsize=9)
    ax = axes[0][2]
    h, w = x.shape[1:]
    step = 0.12 * w
    for c, (name, cmap) in reversed(list(enumerate([("R", "Reds"), ("G", "Greens"), ("B", "Blues"),
                                                     ("mask", "gray")]))):
        off = c * step
        ax.imshow(x[c].numpy(), cmap=cmap, vmin=-1, vmax=1, extent=(off, off + w, h + off, off), alpha=0.95)
        ax.text(off + w + 4, off + 12, name, fontsize=8)
    ax.set_xlim(0, w + 4 * step), ax.set_ylim(h + 4 * step, 0)
    ax.set_title("stacked: a 4 x H x W tensor in [-1, 1]", fontsize=9)
    for a in axes[0]:
        a.axis("off")
    fig.tight_layout()
    return fig


def plot_loss_history(histories: list[dict[str, list[float]]], *, title: str | None = None, fig=None):
    """The losses of every iteration, scale after scale (dotted lines: a new scale starts)."""
    if fig is None:
        fig, _ = new_figure(1, 3, size=3.6)
    for ax in fig.axes:
        ax.clear()
    offset = 0
    for s, hist in enumerate(histories):
        n = len(hist["d_loss"])
        steps = np.arange(offset, offset + n)
        for ax, (name, label, yscale) in zip(fig.axes, _PANELS):
            values = np.asarray(hist[name], dtype=float)
            ax.plot(steps, np.maximum(values, 1e-6) if yscale == "log" else values, lw=0.7, color=f"C{s % 10}")
            if offset:
                ax.axvline(offset, color="grey", lw=0.5, ls=":")
        offset += n
    for ax, (_, label, yscale) in zip(fig.axes, _PANELS):
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration (all scales)")
        ax.set_yscale(yscale)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LiveLossPlot:
    """A ``train_model`` callback that redraws the loss curves every ``every`` iterations.

    In JupyterLab the figure updates in place (an IPython display handle); elsewhere it only
    collects the losses. ``figure()`` draws the final curves.
    """

    def __init__(self, *, every: int = 25, title: str | None = None):
        self.every, self.title = every, title
        self.histories: list[dict[str, list[float]]] = []
        self._fig, self._handle = None, None

    def __call__(self, event) -> None:
        if event.iteration == 1:
            self.histories.append({name: [] for name, _, _ in _PANELS})
        for name, value in event.losses.items():
            if name in self.histories[-1]:
                self.histories[-1][name].append(value)
        if event.iteration % self.every == 0 or event.done:
            self._redraw()

    def _redraw(self) -> None:
        import matplotlib.pyplot as plt

        try:
            from IPython.display import display
        except ImportError:
            return
        if self._fig is None:
            self._fig = self.figure()
            self._handle = display(self._fig, display_id=True)
            plt.close(self._fig)  # shown through the handle only, not again at the end of the cell
        else:
            plot_loss_history(self.histories, title=self.title, fig=self._fig)
            if self._handle is not None:
                self._handle.update(self._fig)

    def figure(self):
        return plot_loss_history(self.histories, title=self.title)


def plot_reconstructions(reals: list[torch.Tensor], reconstructions: list[torch.Tensor], errors: list[float]):
    """Real image (top) and the model's reconstruction from its fixed noise (bottom), per scale."""
    n = len(reals)
    fig, axes = new_figure(2, n, size=1.9)
    for s in range(n):
        for row, (x, label) in enumerate([(reals[s], "real"), (reconstructions[s], f"MSE {errors[s]:.4f}")]):
            ax = axes[row][s]
            ax.imshow(_overlay(x.detach().float().cpu()))
            ax.set_title(f"scale {s}: {label}" if row == 0 else label, fontsize=7)
            ax.axis("off")
    fig.suptitle("real (top) vs reconstruction from z_opt (bottom); mask = outlined area")
    fig.tight_layout()
    return fig


def plot_time_per_scale(scales: list[dict], sizes: list[tuple[int, int]], widths: list[int]):
    """Seconds per iteration at every scale (``model.json`` scale entries), labelled by size and width."""
    fig, axes = new_figure(1, 1, size=4.0)
    ax = axes[0][0]
    ms = [1000 * e["seconds_per_iteration"] for e in scales]
    labels = [f"{s}\n{h}x{w}\nw{widths[s]}" for s, (h, w) in enumerate(sizes[:len(scales)])]
    ax.bar(range(len(ms)), ms, color=[f"C{widths[s] // 32}" for s in range(len(ms))])
    ax.set_xticks(range(len(ms)), labels, fontsize=7)
    ax.set_ylabel("ms per iteration")
    total = sum(e["seconds"] for e in scales)
    ax.set_title(f"time per iteration by scale (model total {total:.0f} s)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_iteration_breakdown(phases: dict[str, float], *, title: str = "one iteration"):
    """Milliseconds per phase of one training iteration (``train_summary.time_iteration``)."""
    fig, axes = new_figure(1, 1, size=4.0)
    fig.set_size_inches(7.5, 0.45 * len(phases) + 1.2)
    ax = axes[0][0]
    names = list(phases)[::-1]
    ms = [1000 * phases[n] for n in names]
    ax.barh(names, ms, color="C0")
    total = sum(ms)
    for y, v in enumerate(ms):
        ax.text(v, y, f" {v:.1f} ms ({v / total:.0%})", va="center", fontsize=7)
    ax.set_xlim(0, max(ms) * 1.35)
    ax.set_xlabel("ms per iteration")
    ax.set_title(f"{title}: {total:.0f} ms", fontsize=9)
    fig.tight_layout()
    return fig
