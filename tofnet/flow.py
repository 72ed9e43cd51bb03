"""Optical-flow backends behind one interface, chosen by name (like ``timm.create_model``).

Every estimator maps RGB frames (N, H, W, 3) uint8 to the flow from frame i to i + 1, (N - 1, 2, H, W)
float32 in pixels, channel 0 = x (right), channel 1 = y (down). ``params()`` lists everything that
changes the output; :func:`flow_cache_key` hashes it so a cache never mixes flows from different settings.

OpenCV backends run on the CPU and never touch ``cv2.setNumThreads`` (a process-wide setting: the
caller decides, e.g. ``tofnet flow --workers``). RAFT runs on CUDA when available.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from ttdf.errors import DownloadError, TTDFError, VideoError
from ttdf.fsutil import sha256_file
from ttdf.video import DEFAULT_READER, read_frames, reader_backend as resolve_reader, stream_frames

# bump when the way flow is computed changes, so old caches stop matching (2: pairwise flow reads the luma;
# 3: frames turned upright by their display rotation, so a phone video's flow is no longer of sideways frames)
_CACHE_FORMAT = 3
_FLOW_BACKENDS: dict[str, Callable[..., FlowEstimator]] = {}


class FlowEstimator(ABC):
    """Frames in, flow out; subclasses implement :meth:`_compute` and describe themselves in :meth:`params`."""

    name: ClassVar[str] = ""
    multiprocess: ClassVar[bool] = True  # may batch jobs spread it over worker processes (False: one GPU model)
    pairwise: ClassVar[bool] = False  # True: :meth:`pairs` computes each pair as its second frame arrives

    def params(self) -> dict[str, Any]:
        """Every setting that changes the output (dataclass fields not starting with ``_`` by default)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{self.name}: expected frames (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if len(frames) < 2:
            raise ValueError(f"{self.name}: optical flow needs at least 2 frames, got {len(frames)}")
        flow = np.asarray(self._compute(np.ascontiguousarray(frames)), dtype=np.float32)
        expected = (len(frames) - 1, 2, *frames.shape[1:3])
        if flow.shape != expected:  # a custom backend's bug, caught before it reaches a cache
            raise RuntimeError(f"flow backend {self.name!r} returned shape {flow.shape}, expected {expected}")
        return flow

    @abstractmethod
    def _compute(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N - 1, 2, H, W) float32; inputs already validated."""

    def pairs(self, dtype: np.dtype = np.float32) -> PairFlow:
        """A frame-at-a-time accumulator giving the same flow as ``self(frames)`` (``pairwise`` backends),
        in ``dtype``."""
        raise NotImplementedError(f"flow backend {self.name!r} computes whole clips only")


class PairFlow:
    """The flow of a frame sequence fed one frame at a time: each pair is computed as its second frame
    arrives, so a decoder can run ahead meanwhile; only the previous frame (in grey) is kept."""

    def __init__(self, pair: Callable[[np.ndarray, np.ndarray], np.ndarray], dtype: np.dtype = np.float32):
        self._pair, self._previous, self._dtype = pair, None, np.dtype(dtype)
        self._flows: list[np.ndarray] = []

    def push(self, image: np.ndarray) -> None:
        """One frame: (H, W, 3) uint8 RGB, or (H, W) uint8 grey."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if self._previous is not None:
            self._flows.append(as_flow_dtype(self._pair(self._previous, grey).transpose(2, 0, 1), self._dtype))
        self._previous = grey

    def result(self) -> np.ndarray:
        """(pushed - 1, 2, H, W) in the accumulator's dtype (float32 unless asked otherwise)."""
        if not self._flows:
            raise ValueError(f"optical flow needs at least 2 frames, got {int(self._previous is not None)}")
        return np.stack(self._flows)


def to_float16(flow: np.ndarray) -> np.ndarray:
    """float16 for storage, clipped rather than overflowing to inf on absurd vectors."""
    limit = np.finfo(np.float16).max
    return np.clip(flow, -limit, limit).astype(np.float16, order="C")


def as_flow_dtype(flow: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``flow`` in ``dtype`` (float16 through :func:`to_float16`), C-contiguous.

    NOTE: contiguous so that a stacked video is too: ``np.save`` of a transposed layout wrote a 300-frame
    video's flow in 116 ms instead of 4-20 (numpy buffers it element by element).
    """
    return to_float16(flow) if np.dtype(dtype) == np.float16 else np.ascontiguousarray(flow, dtype=dtype)


def register_flow_backend(name: str) -> Callable[[Callable[..., FlowEstimator]], Callable[..., FlowEstimator]]:
    """Class decorator adding a backend to the registry; a name can be registered once."""

    def decorator(factory: Callable[..., FlowEstimator]) -> Callable[..., FlowEstimator]:
        if name in _FLOW_BACKENDS:
            raise ValueError(f"flow backend {name!r} is already registered ({_FLOW_BACKENDS[name]!r})")
        if isinstance(factory, type):
            factory.name = name
        _FLOW_BACKENDS[name] = factory
        return factory

    return decorator


def create_flow_estimator(name: str = "dis", **kwargs: Any) -> FlowEstimator:
    """Build a registered backend; ``kwargs`` go to its constructor (e.g. ``preset``, ``weights``)."""
    if name not in _FLOW_BACKENDS:
        raise TTDFError(f"unknown flow backend {name!r}; choose from {list_flow_backends()}")
    factory = _FLOW_BACKENDS[name]
    try:  # options often come from the command line or a run config: name the backend and the bad option
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise TTDFError(f"flow backend {name!r} does not take these options: {exc}") from None
    estimator = factory(**kwargs)
    if estimator.name != name:  # a plain factory function, or a class registered under a second name
        estimator.name = name
    return estimator


def list_flow_backends() -> list[str]:
    return list(_FLOW_BACKENDS)  # registration order: the built-ins, cheapest first


DEFAULT_FLOW_BACKEND = "dis"


def default_flow_backend() -> str:
    """DIS, on every machine: the same command must train the same model with or without a GPU.

    RAFT (``raft_small``) is more accurate and fast on a GPU, but it is an explicit, recorded choice.
    """
    return DEFAULT_FLOW_BACKEND


def flow_cache_key(estimator: FlowEstimator, size: tuple[int, int], reader_backend: str = "auto") -> str:
    """``<backend>-<8 hex>``: a stable hash of the backend, its params, the frame size and the frame reader.

    The reader enters the hash only when it is not the default, so existing caches keep their keys.
    """
    payload = {"backend": estimator.name, "params": estimator.params(), "size": [int(v) for v in size],
               "format": _CACHE_FORMAT}
    reader = resolve_reader(reader_backend)
    if reader != DEFAULT_READER:  # decoders differ slightly in colour conversion, so their flows do too
        payload["reader"] = reader
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{estimator.name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def compute_video_flow(path: str | Path, *, estimator: FlowEstimator, size: tuple[int, int],
                       reader_backend: str = "auto", frames: int | None = None,
                       dtype: np.dtype = np.float32) -> np.ndarray:
    """Flow for a whole video, (F - 1, 2, H, W) float32 (or float16, what caches store: :func:`to_float16`),
    after resizing its frames to ``size`` (H, W).

    ``frames`` is the length the index recorded (a video of another length raises :class:`VideoError`).
    Pairwise backends (DIS, Farneback) get the frames as they decode, overlapping flow with decoding, and
    as grey levels straight from the decoder (the luma plane: no YUV -> RGB -> grey round trip).
    """
    if not estimator.pairwise:
        rgb = read_frames(path, size=size, backend=reader_backend, frames=frames)
        _check_pairs(path, len(rgb))
        return as_flow_dtype(estimator(rgb), dtype)
    accumulator = estimator.pairs(dtype)
    _check_pairs(path, stream_frames(path, accumulator.push, size=size, backend=reader_backend, frames=frames,
                                     gray=True))
    return accumulator.result()


def _check_pairs(path: str | Path, count: int) -> None:
    if count < 2:
        raise VideoError(path, f"has {count} frame(s); optical flow needs at least 2",
                         hint="exclude it from the selection or replace it")


# -- OpenCV backends ---------------------------------------------------------------------------------------


class _OpenCVFlow(FlowEstimator):
    """Pairwise flow on grayscale frames; the OpenCV object is built lazily and never pickled."""

    _engine: Any = None
    pairwise: ClassVar[bool] = True

    def pairs(self, dtype: np.dtype = np.float32) -> PairFlow:
        return PairFlow(self._pair, dtype)

    def _compute(self, frames: np.ndarray) -> np.ndarray:
        accumulator = self.pairs()
        for frame in frames:
            accumulator.push(frame)
        return accumulator.result()

    @abstractmethod
    def _pair(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """(H, W) uint8 x 2 -> (H, W, 2) float32."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_engine", None)  # cv2 objects do not pickle (DataLoader and process-pool workers)
        return state


_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@register_flow_backend("dis")
@dataclass
class DISFlow(_OpenCVFlow):
    """Dense Inverse Search (Kroeger et al. 2016): a few ms per 112x112 pair on one CPU core."""

    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in _DIS_PRESETS:
            raise ValueError(f"dis: unknown preset {self.preset!r}; choose from {list(_DIS_PRESETS)}")

    def _pair(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        if max(prev.shape) < 12:
            raise ValueError(f"dis: frames of {prev.shape[0]}x{prev.shape[1]} are too small (needs a side >= 12 px)")
        if self._engine is None:
            self._engine = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        return self._engine.calc(prev, nxt, None)


@register_flow_backend("farneback")
@dataclass
class FarnebackFlow(_OpenCVFlow):
    """Farneback polynomial-expansion flow, with OpenCV's documented example settings as defaults.

    pyr_scale: image scale between pyramid levels; levels: pyramid levels; winsize: averaging window;
    iterations: per level; poly_n / poly_sigma: neighbourhood and Gaussian sigma of the polynomial fit.
    """

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def _pair(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, self.pyr_scale, self.levels, self.winsize,
                                            self.iterations, self.poly_n, self.poly_sigma, 0)


# -- RAFT (torchvision) ------------------------------------------------------------------------------------

_RAFT_MIN_SIDE = 128  # RAFT's correlation pyramid needs feature maps >= 16 px at 1/8 resolution
_WEIGHTS_HELP = ("pass --flow-weights FILE (a torchvision RAFT state_dict, .pth or .safetensors) "
                 "or use --flow-backend dis")


@dataclass
class _RaftFlow(FlowEstimator):
    """torchvision RAFT. ``weights``: "default" (torchvision's pretrained, downloaded once), a state-dict
    file, or "random" (tests only). Frames are scaled to [-1, 1]; inputs smaller than 128 px are upsampled
    (and the flow scaled back), then padded to multiples of 8 and cropped back."""

    weights: str | Path = "default"
    device: str | None = None
    fp16: bool = False
    batch_size: int = 8
    num_flow_updates: int = 12
    multiprocess: ClassVar[bool] = False
    _arch: ClassVar[str] = ""
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _weights_id: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        import torch

        if self.batch_size < 1 or self.num_flow_updates < 1:
            raise ValueError(f"{self.name}: batch_size and num_flow_updates must be >= 1")
        self.device = str(torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu")))
        self.fp16 = bool(self.fp16) and self.device.startswith("cuda")  # autocast only helps (and runs) on CUDA
        self._model, self._weights_id = _load_raft(self._arch, self.weights)
        self._model.to(self.device).eval()

    def params(self) -> dict[str, Any]:
        return {"weights": self._weights_id, "num_flow_updates": self.num_flow_updates, "fp16": self.fp16}

    def _compute(self, frames: np.ndarray) -> np.ndarray:
        import torch

        n, height, width = frames.shape[:3]
        out = np.empty((n - 1, 2, height, width), dtype=np.float32)
        images = torch.from_numpy(frames).permute(0, 3, 1, 2)
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for start in range(0, n - 1, self.batch_size):
                stop = min(start + self.batch_size, n - 1)
                batch = images[start:stop + 1].to(self.device).float() / 127.5 - 1.0
                flow = _raft_forward(self._model, batch[:-1], batch[1:], self.num_flow_updates)
                out[start:stop] = flow.float().cpu().numpy()
        return out


@register_flow_backend("raft_small")
@dataclass
class RaftSmallFlow(_RaftFlow):
    _arch: ClassVar[str] = "small"


@register_flow_backend("raft_large")
@dataclass
class RaftLargeFlow(_RaftFlow):
    _arch: ClassVar[str] = "large"


def _raft_forward(model, img1, img2, num_flow_updates: int):
    import torch
    import torch.nn.functional as F

    height, width = img1.shape[-2:]
    shortest = min(height, width)
    if shortest < _RAFT_MIN_SIDE:
        scaled = (-(-height * _RAFT_MIN_SIDE // shortest), -(-width * _RAFT_MIN_SIDE // shortest))
        img1, img2 = (F.interpolate(x, size=scaled, mode="bilinear", align_corners=False) for x in (img1, img2))
    else:
        scaled = (height, width)
    pad_h, pad_w = -scaled[0] % 8, -scaled[1] % 8
    pad = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    img1, img2 = (F.pad(x, pad, mode="replicate") for x in (img1, img2))
    flow = model(img1, img2, num_flow_updates=num_flow_updates)[-1]
    flow = flow[..., pad[2]:pad[2] + scaled[0], pad[0]:pad[0] + scaled[1]]
    if scaled != (height, width):
        flow = F.interpolate(flow.float(), size=(height, width), mode="bilinear", align_corners=False)
        flow = flow * torch.tensor([width / scaled[1], height / scaled[0]], device=flow.device).view(1, 2, 1, 1)
    return flow


def _load_raft(arch: str, weights: str | Path):
    """(model, id for the cache key); turns download and file problems into one-line errors."""
    import torch
    from torchvision.models import optical_flow

    builder = getattr(optical_flow, f"raft_{arch}")
    default = getattr(optical_flow, f"Raft_{arch.capitalize()}_Weights").DEFAULT
    model = builder(weights=None, progress=False)
    if str(weights) == "random":
        return model, "random"
    if str(weights) == "default":
        try:
            state = torch.hub.load_state_dict_from_url(default.url, progress=False, check_hash=True)
        except OSError as exc:  # URLError, HTTPError, timeouts, an unwritable cache
            reason = f"{default.url}: {_short(exc)}"
            raise DownloadError(f"cannot download RAFT weights ({reason}); {_WEIGHTS_HELP}") from exc
        source, weights_id = default.url, f"torchvision:{default.name}"
    else:
        path = Path(weights)
        state, source = _read_state_dict(path), str(path)
        weights_id = flow_weights_id(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TTDFError(f"{source}: not a torchvision RAFT-{arch} state_dict ({_short(exc)}); {_WEIGHTS_HELP}") from exc
    return model, weights_id


def flow_weights_id(path: str | Path) -> str:
    """``sha256:<16 hex>`` of a weights file: what a cache key or a checkpoint records instead of its path."""
    return f"sha256:{sha256_file(path)[:16]}"


def _read_state_dict(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise TTDFError(f"{path}: flow weights file not found; check the --flow-weights path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors all mean "not a readable weights file"
        raise TTDFError(f"{path}: cannot read flow weights ({_short(exc)}); {_WEIGHTS_HELP}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(state, dict):
        raise TTDFError(f"{path}: expected a state_dict, found {type(state).__name__}; {_WEIGHTS_HELP}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _short(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__
