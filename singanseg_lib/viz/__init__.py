"""Figures. Every figure a notebook shows is also written as a PNG by :func:`save_figure`
(notebooks go through ``NotebookRun.figure``). One module per topic; all are re-exported here,
so notebooks write ``viz.plot_...``.
"""

from singanseg_lib.viz import baselines, core, data, explorers, generation, metrics, privacy, published, segment, style, training
from singanseg_lib.viz.baselines import *  # noqa: F401,F403
from singanseg_lib.viz.core import *  # noqa: F401,F403
from singanseg_lib.viz.data import *  # noqa: F401,F403
from singanseg_lib.viz.explorers import *  # noqa: F401,F403
from singanseg_lib.viz.generation import *  # noqa: F401,F403
from singanseg_lib.viz.metrics import *  # noqa: F401,F403
from singanseg_lib.viz.privacy import *  # noqa: F401,F403
from singanseg_lib.viz.published import *  # noqa: F401,F403
from singanseg_lib.viz.segment import *  # noqa: F401,F403
from singanseg_lib.viz.style import *  # noqa: F401,F403
from singanseg_lib.viz.training import *  # noqa: F401,F403

__all__ = [name for module in (baselines, core, data, explorers, generation, metrics, privacy, published, segment, style, training)
           for name in module.__all__]
