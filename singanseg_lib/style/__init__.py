"""Step 3 of the paper: Gatys style transfer of synthetic images toward their real
training image (VGG19 features, content:style ratios 1:1 and 1:1000); masks are kept
(``transfer``), on Ray one task per batch (``backends``), and what notebook 04 shows of the
result (``examples``). Notebook 04.
"""
from singanseg_lib.style import backends, examples, transfer
from singanseg_lib.style.examples import colour_gaps, example_pair, style_examples
from singanseg_lib.style.transfer import (
    CONTENT_LAYER,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MIN_SIZE,
    PAPER_RATIOS,
    ST_COLUMNS,
    STYLE_LAYERS,
    VGG19_TAPS,
    StyleHistory,
    StyleSummary,
    VGGFeatures,
    content_loss,
    gram,
    load_vgg19,
    parse_ratio,
    ratio_tag,
    style_batch,
    style_loss,
    style_set,
    styled_set_dir,
    transfer_style,
)

__all__ = [
    "transfer", "examples", "backends", "VGG19_TAPS", "STYLE_LAYERS", "CONTENT_LAYER", "IMAGENET_MEAN", "IMAGENET_STD", "PAPER_RATIOS",
    "MIN_SIZE", "parse_ratio", "ratio_tag", "VGGFeatures", "load_vgg19", "gram", "content_loss", "style_loss",
    "StyleHistory", "transfer_style", "ST_COLUMNS", "StyleSummary", "styled_set_dir", "style_set", "style_batch", "colour_gaps",
    "style_examples", "example_pair"
]
