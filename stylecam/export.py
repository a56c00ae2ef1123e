"""`stylecam export`: a style network for other runtimes: ONNX, TensorFlow Lite, SavedModel.

Every export takes uint8 RGB frames, NHWC (batch, height, width, 3), and returns uint8 RGB frames
of the same shape: the same function stylecam runs (cast, network, clip, round). ONNX and
SavedModel take any batch and frame size; TensorFlow Lite one fixed size (``size``), since its
interpreter plans memory for one shape. Each export is checked in its own runtime against
stylecam's output before it is kept.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import PartialFile, check_writable
from .errors import UserError

FORMATS = {"onnx": ".onnx", "tflite": ".tflite", "saved_model": ""}
ONNX_OPSET = 17
MAX_MEAN_DIFF = 1.0  # grey levels
MIN_PSNR_DB = 40.0


@dataclass
class ExportCheck:
    """How an export's output compares with stylecam's on one frame, and one frame's time in each."""

    psnr_db: float
    mean_diff: float
    seconds: float  # the export's runtime, one frame, best of a few
    stylecam_seconds: float

    @property
    def ok(self) -> bool:
        return self.psnr_db >= MIN_PSNR_DB and self.mean_diff <= MAX_MEAN_DIFF

    def line(self) -> str:
        psnr = "identical" if math.isinf(self.psnr_db) else f"PSNR {self.psnr_db:.1f} dB"
        return (
            f"{psnr}, mean difference {self.mean_diff:.2f} grey levels against stylecam; "
            f"{1 / self.seconds:.1f} fps in its runtime, stylecam {1 / self.stylecam_seconds:.1f} fps"
        )


def check_target(fmt: str, path: Path, overwrite: bool) -> None:
    """Everything wrong with the output, said before the network loads."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if FORMATS[fmt] and path.suffix.lower() != FORMATS[fmt]:
        raise UserError(f"a {fmt} export is a {FORMATS[fmt]} file, not {path.name}")
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists (use --overwrite to replace it)")
    if not path.parent.is_dir():
        raise UserError(f"output folder does not exist: {path.parent}")
    check_writable(path.parent)


def _serving_function(net, size: tuple[int, int] | None):
    import tensorflow as tf

    from .stylizer import Stylizer

    shape = [1, size[1], size[0], 3] if size else [None, None, None, 3]
    return tf.function(Stylizer(net).forward, input_signature=[tf.TensorSpec(shape, tf.uint8, name="frames")])


def export(net, fmt: str, path, size: tuple[int, int] | None = None, overwrite: bool = False) -> Path:
    """Write ``net`` as ``fmt`` to ``path`` (uint8 RGB NHWC in and out); ``size`` (w, h) for tflite."""
    import keras

    path = Path(path)
    check_target(fmt, path, overwrite)
    if keras.backend.backend() != "tensorflow":
        raise UserError("stylecam export runs on the TensorFlow backend (unset KERAS_BACKEND)")
    if fmt == "tflite" and not size:
        raise UserError("a tflite export has one fixed frame size: give --size WIDTHxHEIGHT")
    fn = _serving_function(net, size if fmt == "tflite" else None)
    if fmt == "saved_model":
        return _export_folder(fn, net, path, overwrite)
    partial = PartialFile(path, overwrite)
    try:
        if fmt == "onnx":
            try:
                import tf2onnx
            except ImportError:
                raise UserError("ONNX export needs tf2onnx: pip install 'stylecam[export]'") from None
            tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=ONNX_OPSET,
                                          output_path=str(partial.tmp))  # fmt: skip
        else:
            import tensorflow as tf
            from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

            # Weights as constants: with resource variables the converter's model computes garbage.
            frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
            partial.tmp.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert())
        return partial.commit()
    finally:
        partial.discard()


def _export_folder(fn, net, path: Path, overwrite: bool) -> Path:
    """A SavedModel is a folder: written beside the target, then renamed into place."""
    import tensorflow as tf

    module = tf.Module()
    module.net, module.serve = net, fn
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.partial-"))
    try:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": fn})
        if path.exists() and overwrite:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        try:
            tmp.rename(path)
        except OSError:
            raise UserError(f"{path} appeared while this run was writing it; not replaced") from None
        return path
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def runner(fmt: str, path):
    """A function uint8 (1, H, W, 3) -> uint8 frames running the export in its own runtime."""
    path = str(path)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda frames: session.run(None, {name: frames})[0]
    if fmt == "tflite":
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        interpreter = Interpreter(model_path=path)
        interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

        def run(frames):
            interpreter.set_tensor(inp["index"], frames)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

        return run
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda frames: next(iter(serve(frames=tf.constant(frames)).values())).numpy()


def check_export(fmt: str, path, net, frame: np.ndarray, repeats: int = 3) -> ExportCheck:
    """Run the export on ``frame`` (H, W, 3 uint8) in its runtime and compare with stylecam's."""
    from .stylizer import Stylizer, best_seconds
    from .tuning import psnr

    run, ours = runner(fmt, path), Stylizer(net)
    batch = np.ascontiguousarray(frame[None])
    theirs, mine = np.asarray(run(batch))[0], ours.stylize(frame)
    diff = float(np.abs(theirs.astype(np.float64) - mine).mean())
    seconds = best_seconds(lambda: run(batch), repeats)
    return ExportCheck(psnr(theirs, mine), diff, seconds, best_seconds(lambda: ours.stylize(frame), repeats))
