"""Identity leakage between splits: a person seen in two splits lets test identities into training.

A mismatch (cross-reenactment) forgery takes the pose of another source; when that source sits in
another split, its body is in both. Every person (``identity_id`` or ``pose_id``) belongs to one
"home" split: the split of its real video, else the one most of its videos are in. Each video
using a person outside that person's home split is a leak. Used by ``ttdf verify`` and
``tofnet train``.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ttdf.records import VideoRecord


@dataclass(frozen=True)
class SplitLeak:
    path: str     # the video that crosses splits
    split: str    # its split
    role: str     # "identity" or "pose"
    person: str   # the source whose identity or pose it uses
    home: str     # the split that source belongs to

    def describe(self) -> str:
        return f"{self.path} ({self.split}) uses the {self.role} of {self.person}, a {self.home} source"


def find_split_leaks(records: Iterable[VideoRecord]) -> list[SplitLeak]:
    """Videos whose identity or pose source belongs to another split, sorted by path."""
    records = list(records)
    real_splits: dict[str, set[str]] = defaultdict(set)
    all_splits: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        for person in _people(record).values():
            all_splits[person][record.split] += 1
        if record.label == "real" and record.identity_id:
            real_splits[record.identity_id].add(record.split)
    home = {}
    for person, counts in all_splits.items():
        reals = real_splits.get(person, set())
        # NOTE: ties go to the alphabetically first split, so the answer never depends on record order.
        candidates = reals if len(reals) == 1 else set(counts)
        home[person] = min(candidates, key=lambda split: (-counts[split], split))
    leaks = [SplitLeak(record.path, record.split, role, person, home[person])
             for record in records for role, person in _people(record).items() if home[person] != record.split]
    return sorted(leaks, key=lambda leak: (leak.path, leak.role))


def leak_summary(leaks: list[SplitLeak]) -> str:
    """One line: how many videos leak, how many sources, and the first example."""
    people = sorted({leak.person for leak in leaks})
    return (f"{len(leaks)} video(s) use a source of another split ({len(people)} source(s): "
            f"{', '.join(people[:5])}{', ...' if len(people) > 5 else ''}), e.g. {leaks[0].describe()}")


def _people(record: VideoRecord) -> dict[str, str]:
    people = {"identity": record.identity_id, "pose": record.pose_id}
    return {role: person for role, person in people.items() if person}
