"""The model bundle, shared by training, the HTTP service and the batch scorer.

- `format`: the files and the typed metadata, defined once (format version included).
- `rules`: what each input field accepts, declared once per feature.
- `engines` / `encoding` / `predictor`: scoring, with the engine chosen at load time.
- `store`: load and verify (hash before parse, self-check), and write.
"""

from bundle.format import BundleError, Metadata
from bundle.predictor import Prediction, Predictor
from bundle.store import LoadedBundle, load_bundle

__all__ = [
    "BundleError",
    "LoadedBundle",
    "Metadata",
    "Prediction",
    "Predictor",
    "load_bundle",
]
