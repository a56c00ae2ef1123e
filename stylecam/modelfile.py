"""One model-file format: a Keras ``.keras`` archive holding a FullNet or FastNet and its metadata.

Files load with ``safe_mode=True``: every layer is a registered stylecam or Keras layer. The
metadata sits in the archive's config.json, so listing styles needs no TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from .atomic import atomic_output
from .errors import UserError


class ModelFileError(UserError):
    pass


def _config(path: Path) -> dict:
    """The archive's config.json (a ModelFileError if the file is no .keras archive)."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read("config.json")
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise ModelFileError(
            f"{path} is not a stylecam model file ({e.__class__.__name__}); "
            "train one with `stylecam train` or pick a bundled style (`stylecam styles`)"
        ) from e
    try:
        return json.loads(data)
    except ValueError as e:
        raise ModelFileError(f"{path} is corrupt or not a stylecam model (its config.json is not JSON)") from e


def read_metadata(path) -> dict:
    """A model file's metadata (name, painting, training) without loading the network."""
    config = _config(Path(path)).get("config", {})
    return dict(config.get("metadata") or {}) if isinstance(config, dict) else {}


def read_sizes(path) -> dict:
    """A model file's network sizes (width, residual_blocks) without loading the network."""
    config = _config(Path(path)).get("config", {})
    try:
        return {"width": int(config["width"]), "residual_blocks": int(config["residual_blocks"])}
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{path} is corrupt or not a stylecam model (no network sizes in it)") from None


def save_model(net, path, metadata: dict | None = None) -> Path:
    """Write ``net`` (with ``metadata`` merged into its own) atomically to ``path``."""
    path = Path(path)
    if metadata:
        net.metadata.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        net.save(tmp)
    return path


def load_model(path):
    """Load a model file; any problem with the file is a ModelFileError with one clear line."""
    import keras

    from .network import StyleNet

    path = Path(path)
    config = _config(path)
    try:
        if config.get("class_name") == "TransformNet":
            model = _load_transform_net(path, config.get("config", {}))
        else:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ModelFileError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ModelFileError(f"{path} is corrupt or not a stylecam model: {first}") from e
    if not isinstance(model, StyleNet):
        raise ModelFileError(f"{path} holds a {type(model).__name__}, not a stylecam style network")
    return model


# Files written before FullNet and FastNet hold a "TransformNet" configured by design keys; those
# of the two shipped designs load into the new classes (same layers, same order, same output).
_TRANSFORM_NET_DEFAULTS = dict(
    downsamples=2,
    edge_kernel=9,
    shuffle=1,
    smooth=1,
    subpixel=1,
    antialias=0,
    detail=0,
    antialias_body=0,
    render=0,
    antialias_input=0,
)
_TRANSFORM_NET_DESIGNS = {
    "full": dict(_TRANSFORM_NET_DEFAULTS, antialias_body=1),
    "fast": dict(
        downsamples=1,
        edge_kernel=3,
        shuffle=4,
        smooth=2,
        subpixel=1,
        antialias=1,
        detail=0,
        antialias_body=1,
        render=8,
        antialias_input=1,
    ),
}


def _load_transform_net(path: Path, config: dict):
    import h5py

    from .network import build_network

    keys = {k: int(config.get(k, v)) for k, v in _TRANSFORM_NET_DEFAULTS.items()}
    design = next((name for name, d in _TRANSFORM_NET_DESIGNS.items() if d == keys), None)
    if design is None:
        raise ModelFileError(
            f"{path} was trained with an experimental network design that this version "
            "of stylecam does not run; retrain it with `stylecam train --design full|fast`"
        )
    net = build_network(
        design, config.get("metadata"), width=config["width"], residual_blocks=config["residual_blocks"]
    )
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h5:
        blocks = h5["blocks"]

        def arrays(group):
            """Every array under ``group``, in the order the layer creates them."""
            out = []
            for part in [group[p] for p in ("first", "second")] if "first" in group else [group]:
                for sub in [part[s] for s in ("conv", "inorm") if s in part] or [part]:
                    out += [sub["vars"][str(i)][()] for i in range(len(sub["vars"]))]
            return out

        def numbered(kind, n):
            return [blocks[kind if i == 0 else f"{kind}_{i}"] for i in range(n)]

        convs = (
            [net.conv1, net.conv2, net.conv3, net.deconv1, net.deconv2, net.deconv3]
            if design == "full"
            else [net.conv1, net.conv2, net.deconv1, net.features]
        )
        for layer, group in zip(convs, numbered("conv_block", len(convs))):
            layer.set_weights(arrays(group))
        for layer, group in zip(net.res, numbered("residual_block", len(net.res))):
            layer.set_weights(arrays(group))
        if design == "fast":
            net.render.set_weights(arrays(blocks["render_stage"]))
    return net


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
