"""Import Keras (and with it TensorFlow) once, without TensorFlow's C++ start-up chatter.

TensorFlow prints absl/cudart lines straight to file descriptor 2 while it loads, which
would bury stylecam's one-line error messages. Python-level errors still propagate.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if "keras" not in sys.modules:
    sys.stderr.flush()
    _saved, _null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(_null, 2)
    try:
        import keras
    finally:
        os.dup2(_saved, 2)
        os.close(_saved)
        os.close(_null)

import keras

if keras.backend.backend() == "tensorflow":
    import logging

    # tf.function's "N out of the last M calls triggered retracing" warnings: stylecam compiles
    # one function per frame size on purpose (previews, folders of stills of different sizes).
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
