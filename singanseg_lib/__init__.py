"""singanseg-kit: the helper library behind the SinGAN-Seg notebooks.

Small modules, one idea each; the notebooks in ``notebooks/`` call them in order.
"""
__version__ = "0.1.0"
