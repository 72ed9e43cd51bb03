"""An on-disk cache of decoded frames, so training decodes each video once, not once per clip and epoch.

Training reads a short clip of every video each epoch, and an oversampled real video many times per
epoch. Each read seeks to the keyframe before the clip and decodes from there, which for lossless
(``raw``) H.264 costs most of a training step on a CPU. With the cache, the first read of a video
decodes all of it at the size training reads it and stores the frames as ``uint8`` ``.npy`` (memory-
mapped afterwards, shared by every loader worker and by later runs on the same root). It costs
``frames x H x W x 3`` bytes per video (7 MB for 48 frames of 192x256; a video above
``MAX_ENTRY_BYTES`` is read clip by clip instead), so it is opt-in
(``--frame-cache``): worth it for a dataset of a few thousand clips, not for all of TT-DF. Delete
``<root>/.ttdf/frames`` to reclaim the space; entries are keyed by content, so a re-encoded video
never reads stale frames.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ttdf.video import length_mismatch, out_of_range, probe_video, read_frames, reader_backend
from tofnet.array_cache import ArrayCache, video_sha256

FRAME_CACHE_DIR = ".ttdf/frames"  # below a dataset root
# one video's decoded frames at most; a longer video is read clip by clip, as without the cache
MAX_ENTRY_BYTES = 1 << 30
log = logging.getLogger(__name__)


class FrameCache(ArrayCache):
    """``<cache_dir>/<key>/<sha[:2]>/<sha>.npy``, each one video's frames as uint8 RGB (F, H, W, 3)."""

    kind = "frame"
    root_dir = FRAME_CACHE_DIR

    def accepts(self, array: np.ndarray) -> bool:
        return array.ndim == 4 and array.shape[3] == 3 and array.dtype == np.uint8


def frame_cache_key(size: tuple[int, int] | None, backend: str = "auto") -> str:
    """Entries differ by frame size and by reader (readers may round colours differently).

    ``upright``: frames turned by their display rotation (before, a phone's portrait video was cached sideways).
    """
    shape = "native" if size is None else f"{size[0]}x{size[1]}"
    return f"rgb-{shape}-{reader_backend(backend)}-upright"


def read_frames_cached(path: str | Path, indices: Sequence[int], *, cache: FrameCache | None,
                       sha256: str | None = None, size: tuple[int, int] | None = None, backend: str = "auto",
                       frames: int | None = None) -> np.ndarray:
    """:func:`ttdf.video.read_frames` of ``indices``, through ``cache`` when one is given.

    On a miss the whole video is decoded once and stored; ``frames`` is the length the index
    recorded, checked as ``read_frames`` checks it. ``sha256=None`` hashes the file.
    """
    if cache is None:
        return read_frames(path, indices, size=size, backend=backend, frames=frames)
    key = frame_cache_key(size, backend)
    sha256 = sha256 or video_sha256(path)
    everything = cache.get(sha256, key)
    if everything is None:
        if _entry_bytes(path, size, frames) > MAX_ENTRY_BYTES:
            return read_frames(path, indices, size=size, backend=backend, frames=frames)
        everything = read_frames(path, None, size=size, backend=backend, frames=frames)
        try:
            cache.put(sha256, key, everything)
        except OSError as exc:  # e.g. a full disk: the frames are decoded, training goes on without the entry
            log.warning("%s: not cached in %s (%s); free space or drop --frame-cache", path, cache.cache_dir, exc)
    if frames is not None and len(everything) != frames:  # an entry of a file indexed before a re-encode
        raise length_mismatch(path, frames, len(everything), reader_backend(backend))
    wanted = [int(i) for i in indices]
    bad = [i for i in wanted if not 0 <= i < len(everything)]
    if bad:
        raise out_of_range(path, bad[0], len(everything))
    return np.ascontiguousarray(everything[wanted])


def _entry_bytes(path: str | Path, size: tuple[int, int] | None, frames: int | None) -> int:
    """What the whole decoded video would take, from the index's count and the read size when known."""
    if size is None or frames is None:
        info = probe_video(path)
        size, frames = size or (info.height, info.width), frames or info.frames
    return frames * size[0] * size[1] * 3


__all__ = ["FRAME_CACHE_DIR", "MAX_ENTRY_BYTES", "FrameCache", "frame_cache_key", "read_frames_cached"]
