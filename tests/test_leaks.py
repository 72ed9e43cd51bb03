"""find_split_leaks: a source's identity or pose in two splits, on hand-written records."""
from __future__ import annotations

from ttdf.leaks import find_split_leaks, leak_summary
from ttdf.records import VideoRecord


def _record(path: str, split: str, identity: str, pose: str, *, label: str = "fake",
            compression: str = "raw") -> VideoRecord:
    return VideoRecord(path=path, label=label, method=None if label == "real" else "magicdance",
                       config=None if label == "real" else "mismatch", identity_id=identity, pose_id=pose, split=split,
                       compression=compression)


def test_a_pose_borrowed_from_another_split_is_a_leak_of_that_video_only():
    records = [_record("a.mp4", "train", "a", "a", label="real"), _record("b.mp4", "test", "b", "b", label="real"),
               _record("ab.mp4", "train", "a", "b"), _record("ab-c23.mp4", "train", "a", "b", compression="c23"),
               _record("ba.mp4", "test", "b", "b")]
    leaks = find_split_leaks(records)
    assert [(l.path, l.role, l.person, l.split, l.home) for l in leaks] == [
        ("ab-c23.mp4", "pose", "b", "train", "test"), ("ab.mp4", "pose", "b", "train", "test")]
    assert leak_summary(leaks).startswith("2 video(s) use a source of another split (1 source(s): b), e.g. ab-c23.mp4")


def test_without_a_real_video_the_majority_split_is_home_and_ties_are_stable():
    records = [_record("1.mp4", "train", "x", "x"), _record("2.mp4", "train", "x", "x"),
               _record("3.mp4", "val", "x", "x"), _record("4.mp4", "test", "y", "y"), _record("5.mp4", "val", "y", "y")]
    leaks = find_split_leaks(records)
    assert {(l.path, l.home) for l in leaks} == {("3.mp4", "train"), ("5.mp4", "test")}  # tie: first by name
    assert find_split_leaks(list(reversed(records))) == leaks  # the answer does not depend on the order


def test_clean_splits_and_records_without_ids_have_no_leak():
    records = [_record("a.mp4", "train", "a", "a", label="real"), _record("ab.mp4", "train", "a", "b"),
               _record("b.mp4", "train", "b", "b", label="real"), _record("z.mp4", "test", "", "")]
    assert find_split_leaks(records) == []
