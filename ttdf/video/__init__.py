"""Videos: the one home for probing, reading and encoding them.

``probe`` says what a file holds and how many frames decode (what the index stores); ``read``
delivers those frames through PyAV, OpenCV or decord; ``encode`` writes H.264 atomically.
"""
from ttdf.video.encode import DEFAULT_PRESET, encode_video
from ttdf.video.probe import (FrameTable, VideoInfo, display_turns, frame_table, iter_frames, open_video,
                              probe_video)
from ttdf.video.read import (DEFAULT_READER, READER_BACKENDS, check_size, count_frames, length_mismatch,
                             out_of_range, read_frames, reader_backend, stream_frames)

__all__ = ["DEFAULT_PRESET", "DEFAULT_READER", "READER_BACKENDS", "FrameTable", "VideoInfo", "check_size",
           "count_frames", "display_turns", "encode_video", "frame_table", "iter_frames", "length_mismatch",
           "open_video", "out_of_range", "probe_video", "read_frames", "reader_backend", "stream_frames"]
