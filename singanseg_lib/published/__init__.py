"""The authors' 1,000 published generators, used without running their pickles: an
allow-listed unpickler (``unpickler``), the import of the reference code's checkpoints into
the kit's format (``importer``), the reference's own reconstruction numerics as a yardstick
(``replay``) and the download of the published set (``download``). Notebook 03.
"""
from singanseg_lib.published import download, importer, replay, unpickler
from singanseg_lib.published.unpickler import (
    UnsafePickleError, PthFormatError, PickledObject, ALLOWED_CLASSES, STORAGE_TYPES, SAFE_CALLABLES, load_pth,
    pickle_globals,
)
from singanseg_lib.published.importer import (
    REFERENCE_FILES, GENERATOR_CLASS, SOURCE_KIND, ReferenceFormatError, ReferenceCheckpoint, generator_state,
    read_reference, infer_plan, to_pyramid, import_reference, is_imported_from, find_reference_folders,
)
from singanseg_lib.published.replay import (
    PAD, to_uint8, from_uint8, contributions, imresize, generator_forward, reconstruct, compare_reconstructions,
)
from singanseg_lib.published.download import (
    PUBLISHED_URLS, REAL_DATA_URLS, MANIFEST, MAX_UNPACKED_BYTES, archive_name, PublishedSet, obtain_archive,
    download_published, PUBLISHED_WEIGHTS, import_folder, published_model,
)

__all__ = [
    "download", "importer", "replay", "unpickler", "UnsafePickleError", "PthFormatError", "PickledObject",
    "ALLOWED_CLASSES", "STORAGE_TYPES", "SAFE_CALLABLES", "load_pth", "pickle_globals", "REFERENCE_FILES",
    "GENERATOR_CLASS", "SOURCE_KIND", "ReferenceFormatError", "ReferenceCheckpoint", "generator_state",
    "read_reference", "infer_plan", "to_pyramid", "import_reference", "is_imported_from", "find_reference_folders",
    "PAD", "to_uint8", "from_uint8", "contributions", "imresize", "generator_forward", "reconstruct",
    "compare_reconstructions", "PUBLISHED_URLS", "REAL_DATA_URLS", "MANIFEST", "MAX_UNPACKED_BYTES", "archive_name",
    "PublishedSet", "obtain_archive", "download_published", "PUBLISHED_WEIGHTS", "import_folder", "published_model"
]
