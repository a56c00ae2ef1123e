"""stylecam: fast neural style transfer for video files and webcams."""

__version__ = "0.1.0"
