"""TOF-Net and baselines behind one registry: ``create_model(name, pretrained=False, **kwargs)``.

Every model maps ``batch`` (``"rgb"``: (B, T, 3, H, W) normalised with ``pretrained_cfg`` mean/std;
``"flow"``: (B, T, 2, H, W) pixels, frame t -> t+1) to (B,) forgery logits, reads only
``required_inputs`` and carries ``model_config`` (name + kwargs) so checkpoints can rebuild it.
"""
from __future__ import annotations

from tofnet.models import baselines, meso, tofnet, video_cnn  # noqa: F401  (registers the builders)
from tofnet.models.baselines import FrameClassifier, FrameConfig
from tofnet.models.flow_stats import flow_statistics, num_flow_stats
from tofnet.models.registry import create_model, is_model, list_models, rebuild_model, register_model
from tofnet.models.temporal import TEMPORAL_KINDS
from tofnet.models.tofnet import DEFAULT_BACKBONE, TOFNet, TOFNetConfig
from tofnet.models.video_cnn import VideoCNN, VideoCNNConfig

__all__ = [
    "DEFAULT_BACKBONE", "TEMPORAL_KINDS", "FrameClassifier", "FrameConfig", "TOFNet", "TOFNetConfig",
    "VideoCNN", "VideoCNNConfig",
    "create_model", "flow_statistics", "is_model", "list_models", "num_flow_stats", "rebuild_model",
    "register_model",
]
