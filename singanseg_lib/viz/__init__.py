"""Figures. Every figure a notebook shows is also written as a PNG by :func:`save_figure`
(notebooks go through ``NotebookRun.figure``). One module per topic; all are re-exported here,
so notebooks write ``viz.plot_...``.
"""
from .core import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
