"""One video of the dataset, where it lives, and how commands select videos.

``VideoRecord`` is the row shared by manifests, the index and ``tofnet`` datasets;
``VideoFilter`` is the one selection every command (ls, stats, download, train) accepts.
"""
from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, fields, replace
from pathlib import PurePosixPath

from ttdf.errors import ManifestError
from ttdf.fsutil import check_relative_path
from ttdf.taxonomy import Taxonomy

# NOTE: a fake video's file name carries both source ids so that the generative
# configuration can be audited from the name alone: "<identity>__<pose>.mp4".
FAKE_NAME_SEPARATOR = "__"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class VideoRecord:
    path: str
    label: str
    method: str | None
    config: str | None
    identity_id: str
    pose_id: str
    split: str
    compression: str
    frames: int | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None

    @property
    def is_fake(self) -> bool:
        return self.label == "fake"

    @property
    def group(self) -> str:
        """``method/config/compression`` (``real/-/compression`` for real videos), for reports."""
        return f"{self.method or 'real'}/{self.config or '-'}/{self.compression}"

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "VideoRecord":
        return replace(self, **changes)

    def validate(self, taxonomy: Taxonomy, *, where: str = "record") -> "VideoRecord":
        """Raise a :class:`ManifestError` naming ``where`` and the bad field; return the record with its
        configuration under its canonical name (an old manifest's ``same`` becomes ``match``)."""
        if self.config != taxonomy.canonical_config(self.config):
            return self.with_(config=taxonomy.canonical_config(self.config)).validate(taxonomy, where=where)
        check_relative_path(self.path, where=where)
        if self.label not in taxonomy.labels:
            raise ManifestError(f"{where}: label {self.label!r} is not one of {list(taxonomy.labels)}")
        if self.is_fake:
            if self.method not in taxonomy.methods:
                raise ManifestError(f"{where}: unknown method {self.method!r}; known: {list(taxonomy.methods)}")
            if self.config not in taxonomy.configs:
                raise ManifestError(f"{where}: unknown configuration {self.config!r}; known: {list(taxonomy.configs)}")
        elif self.method or self.config:
            raise ManifestError(f"{where}: a real video has no method or configuration (got {self.method!r}, {self.config!r})")
        if self.split not in taxonomy.splits:
            raise ManifestError(f"{where}: unknown split {self.split!r}; known: {list(taxonomy.splits)}")
        if not taxonomy.is_compression(self.compression):
            raise ManifestError(f"{where}: unknown compression {self.compression!r}; known: {list(taxonomy.compressions)} or crfN")
        for name in ("identity_id", "pose_id"):
            if not _ID.match(getattr(self, name) or ""):
                raise ManifestError(f"{where}: {name} {getattr(self, name)!r} must be letters, digits, '.', '_' or '-'")
        return self


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(VideoRecord))


def relative_path(taxonomy: Taxonomy, *, label: str, split: str, compression: str, identity_id: str,
                  pose_id: str, method: str | None = None, config: str | None = None, ext: str = ".mp4") -> str:
    """The canonical location of a video below the dataset root (see ``layout`` in the taxonomy)."""
    if label == "real":
        return taxonomy.layout.real.format(compression=compression, split=split, name=f"{identity_id}{ext}")
    name = f"{identity_id}{FAKE_NAME_SEPARATOR}{pose_id}{ext}"
    return taxonomy.layout.fake.format(method=method, config=config, compression=compression, split=split, name=name)


def parse_relative_path(taxonomy: Taxonomy, rel: str) -> VideoRecord | None:
    """Infer a record from a path that follows the layout convention; ``None`` when it does not."""
    path = PurePosixPath(rel)
    if path.suffix.lower() not in taxonomy.layout.video_extensions:
        return None
    for label, template in (("real", taxonomy.layout.real), ("fake", taxonomy.layout.fake)):
        values = _match_template(template, path.parts)
        if values is None:
            continue
        stem = PurePosixPath(values.pop("name")).stem
        if label == "real":
            identity = pose = stem
        elif FAKE_NAME_SEPARATOR in stem:
            identity, pose = stem.split(FAKE_NAME_SEPARATOR, 1)
        else:
            continue
        record = VideoRecord(path=str(path), label=label, method=values.get("method"), config=values.get("config"),
                             identity_id=identity, pose_id=pose, split=values["split"],
                             compression=values["compression"])
        try:
            return record.validate(taxonomy, where=rel)
        except ManifestError:
            continue
    return None


def _match_template(template: str, parts: tuple[str, ...]) -> dict[str, str] | None:
    patterns = template.split("/")
    if len(patterns) != len(parts):
        return None
    values: dict[str, str] = {}
    for pattern, part in zip(patterns, parts):
        fields_in = [f for _, f, _, _ in string.Formatter().parse(pattern) if f]
        if not fields_in:
            if pattern != part:
                return None
        elif pattern == "{" + fields_in[0] + "}":
            values[fields_in[0]] = part
        else:
            return None
    return values


@dataclass(frozen=True)
class VideoFilter:
    """A selection of videos; an empty tuple means "any".

    ``methods`` and ``configs`` constrain fake videos only: a real video has neither, so it
    passes them (training on ``--method X`` needs X's fakes *and* the real videos). To select
    fakes or reals alone, add ``labels``.
    """

    methods: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    compressions: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def validate(self, taxonomy: Taxonomy) -> "VideoFilter":
        """Raise on an unknown value; return the filter with configurations under their canonical names."""
        canonical = tuple(dict.fromkeys(taxonomy.canonical_config(c) for c in self.configs))
        if canonical != self.configs:
            return replace(self, configs=canonical).validate(taxonomy)
        for name, allowed in (("method", taxonomy.methods), ("config", taxonomy.configs),
                              ("split", taxonomy.splits), ("label", taxonomy.labels)):
            for value in getattr(self, f"{name}s"):
                if value not in allowed:
                    raise ManifestError(f"unknown {name} {value!r}; choose from {list(allowed)}")
        for value in self.compressions:
            if not taxonomy.is_compression(value):
                raise ManifestError(f"unknown compression {value!r}; choose from {list(taxonomy.compressions)} or crfN")
        return self

    def matches(self, record: VideoRecord) -> bool:
        if self.labels and record.label not in self.labels:
            return False
        if self.splits and record.split not in self.splits:
            return False
        if self.compressions and record.compression not in self.compressions:
            return False
        if record.is_fake:
            if self.methods and record.method not in self.methods:
                return False
            if self.configs and record.config not in self.configs:
                return False
        return True
