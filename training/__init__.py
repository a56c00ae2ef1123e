"""Everything that learns: VGG16 loss network, perceptual losses, data, training, Gatys."""

from stylecam import _keras  # noqa: F401  (quiet TensorFlow start-up)
