"""Everything that learns: VGG16 loss network, perceptual losses, data, training, Gatys."""
