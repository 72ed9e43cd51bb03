"""tofnet: optical flow, the TOF-Net body-forgery detector, training and evaluation."""

import os

__version__ = "0.1.0"

# albumentations asks PyPI for its latest version at import: a network call (and a warning offline) in
# every process and DataLoader worker of a tool meant to run on clusters without internet.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
