"""Clips of videos as model inputs, read from the ``ttdf`` index (or any file for ``predict``).

Sampling is explicit and recorded: each video yields ``sampling.clips_per_video`` clips of
``clip_len`` frames, ``stride`` apart; frame t is paired with the flow from t to t+1. Evaluation
uses evenly spaced clips (``mode="uniform"``); training draws starts from a generator seeded by
(seed, epoch, item), so a run is reproducible and a resumed run sees the same clips.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from tofnet.crops import crop_frames, motion_crop_origin
from tofnet.flow import DEFAULT_FLOW_BACKEND, create_flow_estimator, flow_cache_key, flow_weights_id
from tofnet.flow_cache import FlowCache, load_or_compute_flow
from tofnet.frame_cache import FrameCache, read_frames_cached
from tofnet.pseudo_fakes import make_pseudo_fake
from tofnet.residual import motion_residual
from ttdf.video import count_frames
from tofnet.sampling import ClipSampling
from tofnet.transforms import ClipAugment
from ttdf.errors import TTDFError, VideoError
from ttdf.fsutil import sha256_file
from ttdf.index import VideoIndex
from ttdf.records import VideoFilter, VideoRecord

log = logging.getLogger(__name__)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NAMED_WEIGHTS = ("default", "random")  # RAFT weights that are names, not files
INPUTS = ("rgb", "flow", "residual")  # what a model may list in ``required_inputs``


@dataclass(frozen=True)
class DataConfig:
    """Everything that turns a video into model input; saved with every checkpoint."""

    size: tuple[int, int] = (112, 112)
    clip_len: int = 8
    stride: int = 1
    train_clips_per_video: int = 2
    eval_clips_per_video: int = 4
    flow_backend: str = DEFAULT_FLOW_BACKEND
    flow_kwargs: dict = field(default_factory=dict)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    reader_backend: str = "auto"
    # RGB crop (h, w) cut from frames read at ``rgb_size`` (default: ``size``), centred on the motion
    # (tofnet.crops); None: the whole frame at ``size``. Flow stays whole-frame at ``size``.
    crop: tuple[int, int] | None = None
    rgb_size: tuple[int, int] | None = None

    def sampling(self, *, train: bool) -> ClipSampling:
        return ClipSampling(clip_len=self.clip_len, stride=self.stride, mode="random" if train else "uniform",
                            clips_per_video=self.train_clips_per_video if train else self.eval_clips_per_video)

    def to_dict(self) -> dict:
        return asdict(self)

    def portable(self) -> "DataConfig":
        """As a checkpoint records it: a flow weights file by its content hash, not by a machine-local path."""
        weights = self.flow_kwargs.get("weights")
        if weights is None or str(weights) in _NAMED_WEIGHTS or str(weights).startswith("sha256:"):
            return self
        return replace(self, flow_kwargs={**self.flow_kwargs, "weights": flow_weights_id(weights)})

    def with_flow_weights(self, path: str | Path | None) -> "DataConfig":
        """Bind the weights hash a checkpoint recorded to a local file, which must have that content."""
        recorded = str(self.flow_kwargs.get("weights", ""))
        if not recorded.startswith("sha256:"):
            if path is not None:
                raise TTDFError(f"--flow-weights {path}: this checkpoint's flow ({self.flow_backend}, weights "
                                f"{recorded or 'none'}) takes no weights file; drop --flow-weights")
            return self
        if path is None:
            raise TTDFError(f"this checkpoint's flow was computed by {self.flow_backend} with a weights file "
                            f"({recorded}); pass --flow-weights FILE with that file")
        if not Path(path).is_file():
            raise TTDFError(f"{path}: flow weights file not found; check the --flow-weights path")
        if flow_weights_id(path) != recorded:
            raise TTDFError(f"{path}: is {flow_weights_id(path)}, but the checkpoint's flow used {recorded}; "
                            "pass the weights file it was trained with")
        return replace(self, flow_kwargs={**self.flow_kwargs, "weights": str(path)})

    @classmethod
    def from_dict(cls, data: dict) -> "DataConfig":
        data = dict(data)
        for key in ("size", "mean", "std", "crop", "rgb_size"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


@dataclass(frozen=True)
class VideoSource:
    """A file to read clips from; ``record`` is None for videos outside the index.

    ``pseudo``: a real video whose clips are turned into pseudo-fakes (:mod:`tofnet.pseudo_fakes`), label 1.
    """

    path: Path
    record: VideoRecord | None = None
    pseudo: bool = False

    @property
    def label(self) -> int:
        if self.pseudo:
            return 1
        return -1 if self.record is None else int(self.record.is_fake)


def videos_from_index(root: str | Path, filt: VideoFilter | None = None) -> list[VideoSource]:
    with VideoIndex.open(root) as index:
        videos = index.query(filt)
    if not videos:
        raise TTDFError(f"{root}: no indexed videos match {filt}; check the filters or run `ttdf index --root {root}`")
    return [VideoSource(Path(root) / v.path, v.record) for v in videos]


class ClipDataset(Dataset):
    """Item i is clip ``i % clips_per_video`` of video ``i // clips_per_video``.

    Returns a dict with ``rgb`` (T, 3, H, W) normalised, ``flow`` (T, 2, H, W) in pixels, ``residual``
    (T, 3, H, W) the motion-compensated residual of the RGB clip (:mod:`tofnet.residual`), ``label``
    and ``index``; only the inputs the model needs are read. A video that cannot be read yields
    ``{"failure": (path, reason)}``: :func:`collate_clips` drops it from the tensors but carries it in
    ``batch["failures"]``, so failures inside DataLoader workers reach the main process, where
    :meth:`note_failures` records them in ``failures``. With a ``frame_cache``, RGB comes from each
    video decoded once (:mod:`tofnet.frame_cache`): the same frames, decoded once per video instead of
    once per clip.
    """

    def __init__(self, videos: Sequence[VideoSource], config: DataConfig, *, inputs: Sequence[str] = ("rgb", "flow"),
                 train: bool = False, flow_cache: FlowCache | None = None, augment: ClipAugment | None = None,
                 seed: int = 0, frame_cache: FrameCache | None = None):
        unknown = set(inputs) - set(INPUTS)
        if unknown:
            raise ValueError(f"unknown inputs {sorted(unknown)}; expected some of {INPUTS}")
        self.videos = list(videos)
        self.config = config
        self.inputs = tuple(inputs)
        self.sampling = config.sampling(train=train)
        self.train = train
        self.flow_cache = flow_cache
        self.frame_cache = frame_cache
        self.augment = augment if train else None
        self.seed = seed
        self.epoch = 0
        self.failures: dict[str, str] = {}
        self._needs_rgb = "rgb" in inputs or "residual" in inputs
        self._needs_flow = "flow" in inputs or (config.crop is not None and self._needs_rgb)  # crops follow motion
        self._estimator = create_flow_estimator(config.flow_backend, **config.flow_kwargs) if self._needs_flow else None
        self._mean = np.asarray(config.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(config.std, np.float32).reshape(1, 3, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.videos) * self.sampling.clips_per_video

    def clip_of(self, index: int) -> tuple[VideoSource, int]:
        return self.videos[index // self.sampling.clips_per_video], index % self.sampling.clips_per_video

    def __getitem__(self, index: int) -> dict:
        video, clip = self.clip_of(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        try:
            return self._load(video, clip, index, rng)
        except TTDFError as exc:
            if str(video.path) not in self.failures:  # once per video, not once per clip
                said = str(exc)  # a VideoError already starts with the path: name it once
                log.warning("skipping %s", said if said.startswith(str(video.path)) else f"{video.path}: {said}")
            self.failures[str(video.path)] = str(exc)
            return {"failure": (str(video.path), str(exc))}

    def note_failures(self, batch: dict) -> None:
        """Record the failures a (possibly worker-collated) batch carries."""
        self.failures.update(batch.get("failures", {}))

    def _load(self, video: VideoSource, clip: int, index: int, rng: np.random.Generator) -> dict:
        backend = self.config.reader_backend  # RGB and flow decode through the same reader
        indexed = video.record.frames if video.record and video.record.frames else None
        frames = indexed or count_frames(video.path, backend=backend)
        if frames < 2:
            raise VideoError(video.path, f"has {frames} frame(s); a clip needs at least 2 (frame + its optical flow)")
        indices = self.sampling.clip_indices(frames, rng=rng if self.train else None)[clip]
        rgb = flow = None
        if self._needs_flow:
            flow = self._clip_flow(video, indices, reader_backend=backend, frames=frames)
        if self._needs_rgb:
            rgb = read_frames_cached(video.path, indices, cache=self.frame_cache,
                                     sha256=video.record.sha256 if video.record else None,
                                     size=self.config.rgb_size or self.config.size, backend=backend, frames=indexed)
            if self.config.crop is not None:
                jitter = self.augment.config.crop_jitter if self.augment is not None else 0.0
                origin = motion_crop_origin(flow, rgb.shape[1:3], self.config.crop, rng=rng, jitter=jitter)
                rgb = crop_frames(rgb, origin, self.config.crop)
            if video.pseudo:  # made before augmentation, as a real forgery is made before it is compressed
                rgb = make_pseudo_fake(rgb, rng)
        if "flow" not in self.inputs:
            flow = None
        if self.augment is not None:
            rgb, flow = self.augment(rgb, flow, rng)
        item = {"label": torch.tensor(float(max(video.label, 0))), "index": torch.tensor(index)}
        if "residual" in self.inputs:
            item["residual"] = torch.from_numpy(motion_residual(rgb).transpose(0, 3, 1, 2).copy())
        if "rgb" in self.inputs:
            chw = rgb.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
            item["rgb"] = torch.from_numpy((chw - self._mean) / self._std)
        if flow is not None:
            item["flow"] = torch.from_numpy(np.ascontiguousarray(flow))
        return item

    def _clip_flow(self, video: VideoSource, indices: np.ndarray, *, reader_backend: str, frames: int) -> np.ndarray:
        """The clip's flow; a cache entry holding NaN/inf (a damaged file) is dropped and computed again."""
        sha = video.record.sha256 if video.record else None
        for attempt in range(2):
            full = load_or_compute_flow(video.path, sha, estimator=self._estimator, size=self.config.size,
                                        cache=self.flow_cache, reader_backend=reader_backend, frames=frames)
            flow = np.asarray(full[indices], dtype=np.float32)  # indices <= frames - 2: every frame has its flow
            if np.isfinite(flow).all():
                return flow
            if attempt or self.flow_cache is None:
                break
            entry = self.flow_cache.discard(sha or sha256_file(video.path),
                                            flow_cache_key(self._estimator, self.config.size, reader_backend))
            log.warning("%s: cached optical flow %s had NaN/inf values; deleted it, computing it again",
                        video.path, entry)
        raise VideoError(video.path, "its optical flow has NaN or infinite values",
                         hint="check the video decodes (`ttdf verify`) and the --flow-backend")


def collate_clips(items: list[dict]) -> dict:
    """Batch the readable clips, plus ``failures`` {path: reason} of the others.

    A batch whose every clip failed holds no tensors: check :func:`batch_len` before using it.
    """
    good = [item for item in items if "failure" not in item]
    batch = default_collate(good) if good else {}
    batch["failures"] = dict(item["failure"] for item in items if "failure" in item)
    return batch


def batch_len(batch: dict) -> int:
    """Number of readable clips in a :func:`collate_clips` batch."""
    return len(batch["label"]) if "label" in batch else 0
