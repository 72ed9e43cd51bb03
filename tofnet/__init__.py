"""tofnet: optical flow, the TOF-Net body-forgery detector, training and evaluation."""

__version__ = "0.1.0"
