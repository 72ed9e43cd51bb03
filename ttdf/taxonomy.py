"""The TT-DF taxonomy (methods, configurations, compressions, splits, folder layout) as data.

The numbers and names live in ``manifests/taxonomy.json`` so that a new forgery method or
compression level is a data change, not a code change.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from ttdf.errors import TaxonomyError
from ttdf.fsutil import atomic_write_text

DEFAULT_TAXONOMY = Path(__file__).resolve().parent.parent / "manifests" / "taxonomy.json"
PAPER_FAMILY = "paper"  # methods without a "family" tag: the animators of the TT-DF paper
IMPORTED_FAMILY = "imported"  # methods a dataset registered itself (`ttdf import --method NAME`)
_CRF_NAME = re.compile(r"^crf(\d{1,2})$")
_METHOD_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
EXTENSION_FILE = ".ttdf/taxonomy.json"  # below a dataset root: the methods that dataset added


@dataclass(frozen=True)
class Layout:
    """Where each kind of video lives below a dataset root (``str.format`` templates)."""

    real: str
    fake: str
    manifest: str = "manifest.csv"
    video_extensions: tuple[str, ...] = (".mp4",)


@dataclass(frozen=True)
class HubInfo:
    repo_id: str
    repo_type: str = "dataset"
    revision: str = "main"


@dataclass(frozen=True)
class Taxonomy:
    name: str
    version: str
    labels: tuple[str, ...]
    methods: tuple[str, ...]
    configs: tuple[str, ...]
    compressions: dict[str, int | None]
    splits: tuple[str, ...]
    layout: Layout
    hub: HubInfo
    published_totals: dict[str, int] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)
    config_aliases: dict[str, str] = field(default_factory=dict)   # old name -> canonical (``same`` -> ``match``)
    method_families: dict[str, str] = field(default_factory=dict)  # method -> "paper" (TT-DF's own) or its tag

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "taxonomy") -> "Taxonomy":
        try:
            methods = data["methods"]
            configs = data["configs"]
            taxonomy = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                labels=tuple(data["labels"]),
                methods=tuple(methods),
                configs=tuple(configs),
                compressions={k: (v or {}).get("crf") for k, v in data["compressions"].items()},
                splits=tuple(data["splits"]),
                layout=Layout(
                    real=data["layout"]["real"],
                    fake=data["layout"]["fake"],
                    manifest=data["layout"].get("manifest", "manifest.csv"),
                    video_extensions=tuple(data["layout"].get("video_extensions", [".mp4"])),
                ),
                hub=HubInfo(**data["hub"]),
                published_totals=dict(data.get("published_totals", {})),
                display={k: v.get("display", k) for k, v in {**methods, **configs}.items()},
                config_aliases={str(k): str(v) for k, v in data.get("config_aliases", {}).items()},
                method_families={k: str(v.get("family", PAPER_FAMILY)) for k, v in methods.items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise TaxonomyError(f"{source}: malformed taxonomy ({exc!r}); restore it from git") from exc
        wrong = {a: c for a, c in taxonomy.config_aliases.items() if c not in taxonomy.configs}
        if wrong:
            raise TaxonomyError(f"{source}: config_aliases {wrong} point to no configuration of {list(taxonomy.configs)}")
        return taxonomy

    @property
    def config_choices(self) -> tuple[str, ...]:
        """Every accepted configuration name: the canonical ones, then their aliases (for CLI ``choices``)."""
        return (*self.configs, *(a for a in self.config_aliases if a not in self.configs))

    def canonical_config(self, name: str | None) -> str | None:
        """The canonical name of a configuration (``same`` -> ``match``); unknown names come back unchanged.

        The one place where old names are translated, so old manifests, indexes and folders keep loading.
        """
        return self.config_aliases.get(name, name) if name is not None else None

    def with_methods(self, methods: dict[str, str]) -> "Taxonomy":
        """This taxonomy plus the methods of ``{name: display}`` it does not know yet."""
        added = {m: d for m, d in methods.items() if m not in self.methods}
        if not added:
            return self
        return replace(self, methods=(*self.methods, *added), display={**self.display, **added},
                       method_families={**self.method_families, **{m: IMPORTED_FAMILY for m in added}})

    def methods_of(self, family: str = "paper") -> tuple[str, ...]:
        """The methods of one family: ``paper`` (TT-DF's animators), ``forge`` (``ttdf forge``'s families)."""
        return tuple(m for m in self.methods if self.method_families.get(m, PAPER_FAMILY) == family)

    def is_compression(self, name: str) -> bool:
        return name in self.compressions or bool(_CRF_NAME.match(name))

    def compression_for_crf(self, crf: int) -> str:
        """Name of the compression level for an H.264 CRF (``c23`` for 23, else ``crf{N}``)."""
        for name, value in self.compressions.items():
            if value == crf:
                return name
        return f"crf{crf}"

    def crf_for(self, compression: str) -> int | None:
        if compression in self.compressions:
            return self.compressions[compression]
        match = _CRF_NAME.match(compression)
        return int(match.group(1)) if match else None


def load_taxonomy(path: str | Path | None = None, *, root: str | Path | None = None) -> Taxonomy:
    """Load the taxonomy (``$TTDF_TAXONOMY`` or the packaged default when ``path`` is None).

    With ``root``, the methods that dataset registered in ``<root>/.ttdf/taxonomy.json`` (a folder
    of forgeries from a new method, see ``ttdf import --method``) are added, so every command on
    that root knows them without editing the installed package.
    """
    base = str(path or os.environ.get("TTDF_TAXONOMY") or DEFAULT_TAXONOMY)
    extension = Path(root) / EXTENSION_FILE if root is not None else None
    try:
        stat = extension.stat() if extension is not None else None
    except (FileNotFoundError, NotADirectoryError):
        stat = None
    if stat is None:
        return _load_cached(base)
    return _extend(base, str(extension), stat.st_mtime_ns, stat.st_size)


def check_method_name(name: str) -> str:
    """Return ``name`` if it can name a forgery method (it becomes a folder and a CLI value), else raise."""
    if not _METHOD_NAME.match(name or ""):
        raise TaxonomyError(f"method name {name!r} must be lowercase letters, digits, '-' or '_' "
                            "(starting with a letter or digit), e.g. champ")
    return name


def register_methods(root: str | Path, methods: dict[str, str]) -> Taxonomy:
    """Add ``{name: display}`` to the root's taxonomy extension (written atomically); return the root's taxonomy."""
    root = Path(root)
    taxonomy = load_taxonomy(root=root)
    new = {check_method_name(m): d for m, d in methods.items() if m not in taxonomy.methods}
    if not new:
        return taxonomy
    extension = root / EXTENSION_FILE
    data = _read_extension(extension) if extension.exists() else {"methods": {}}
    data["methods"].update({m: {"display": d} for m, d in new.items()})
    atomic_write_text(extension, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return load_taxonomy(root=root)


@lru_cache(maxsize=32)
def _extend(base: str, path: str, mtime_ns: int, size: int) -> Taxonomy:
    """The taxonomy at ``base`` plus the extension's methods (cached by file state, so an edit is seen at once)."""
    taxonomy = _load_cached(base)
    methods = _read_extension(Path(path))["methods"]
    return taxonomy.with_methods({m: str(v.get("display", m)) for m, v in methods.items()})


def _read_extension(path: Path) -> dict:
    fix = f"fix or delete {path} (it lists the methods this dataset added)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaxonomyError(f"{path}: unreadable taxonomy extension ({exc}); {fix}") from exc
    if not isinstance(data, dict) or set(data) - {"methods"} or not isinstance(data.get("methods", {}), dict) \
            or not all(isinstance(v, dict) for v in data.get("methods", {}).values()):
        raise TaxonomyError(f'{path}: a taxonomy extension holds only {{"methods": {{name: {{"display": ...}}}}}}; {fix}')
    for name in data.get("methods", {}):
        try:
            check_method_name(name)
        except TaxonomyError as exc:
            raise TaxonomyError(f"{path}: {exc}; {fix}") from exc
    return {"methods": dict(data.get("methods", {}))}


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Taxonomy:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise TaxonomyError(f"{path}: taxonomy file not found; set TTDF_TAXONOMY or reinstall") from exc
    except json.JSONDecodeError as exc:
        raise TaxonomyError(f"{path}: not valid JSON ({exc}); restore it from git") from exc
    return Taxonomy.from_dict(data, source=path)
