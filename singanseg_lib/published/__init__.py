"""The authors' 1,000 published generators, used without running their pickles: an
allow-listed unpickler (``unpickler``), the import of the reference code's checkpoints into
the kit's format (``importer``), the reference's own reconstruction numerics as a yardstick
(``replay``) and the download of the published set (``download``). Notebook 03.
"""
from singanseg_lib.published import download, importer, replay, unpickler
from singanseg_lib.published.download import (
    MANIFEST,
    MAX_UNPACKED_BYTES,
    PUBLISHED_URLS,
    PUBLISHED_WEIGHTS,
    REAL_DATA_URLS,
    PublishedSet,
    archive_name,
    download_published,
    import_folder,
    obtain_archive,
    published_model,
)
from singanseg_lib.published.importer import (
    GENERATOR_CLASS,
    REFERENCE_FILES,
    SOURCE_KIND,
    ReferenceCheckpoint,
    ReferenceFormatError,
    find_reference_folders,
    generator_state,
    import_reference,
    infer_plan,
    is_imported_from,
    read_reference,
    to_pyramid,
)
from singanseg_lib.published.replay import (
    PAD,
    compare_reconstructions,
    contributions,
    from_uint8,
    generator_forward,
    imresize,
    reconstruct,
    to_uint8,
)
from singanseg_lib.published.unpickler import (
    ALLOWED_CLASSES,
    SAFE_CALLABLES,
    STORAGE_TYPES,
    PickledObject,
    PthFormatError,
    UnsafePickleError,
    load_pth,
    pickle_globals,
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
