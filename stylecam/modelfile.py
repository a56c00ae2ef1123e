"""One model-file format: a Keras ``.keras`` file holding a TransformNet and its metadata.

Files load with ``safe_mode=True``: every layer is a registered stylecam or Keras layer.
"""
from __future__ import annotations

from . import _keras  # noqa: F401  (quiet TensorFlow start-up)

import hashlib
import zipfile
from pathlib import Path

from .atomic import atomic_output
from .errors import UserError
from .network import TransformNet


class ModelFileError(UserError):
    pass


def save_model(net: TransformNet, path, metadata: dict | None = None) -> Path:
    """Write ``net`` (with ``metadata`` merged into its own) atomically to ``path``."""
    path = Path(path)
    if metadata:
        net.metadata.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        net.save(tmp)
    return path


def load_model(path) -> TransformNet:
    """Load a model file; any problem with the file is a ModelFileError with one clear line."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a stylecam model file (not a .keras archive); "
                             "train one with `stylecam train` or pick a bundled style (`stylecam styles`)")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ModelFileError(f"{path} is corrupt or not a stylecam model ({first[:200]})") from e
    if not isinstance(model, TransformNet):
        raise ModelFileError(f"{path} holds a {type(model).__name__}, not a stylecam style network")
    return model


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
