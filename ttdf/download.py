"""Fetch TT-DF, or the part a filter selects, from the Hugging Face Hub, then verify and index it.

``huggingface_hub`` does the transfer: it resumes partial files, reads ``HF_TOKEN`` or the saved
login, and honours ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``. The dataset repo defaults to the ``hub``
entry of ``manifests/taxonomy.json``; ``$TTDF_HUB_REPO`` / ``$TTDF_HUB_REVISION`` or the arguments
override it (a mirror, a pinned commit).
"""
from __future__ import annotations

import contextlib
import fnmatch
import itertools
import os
import string
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, constants, snapshot_download
from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, HFValidationError, HTTPError,
                                    LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                    RevisionNotFoundError)
from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
from tqdm.auto import tqdm

from ttdf.errors import DownloadError
from ttdf.fsutil import sha256_file
from ttdf.index import IndexReport, find_video_files, index_dataset
from ttdf.manifest import read_manifest
from ttdf.records import VideoFilter, VideoRecord
from ttdf.taxonomy import Taxonomy, load_taxonomy

REPO_ENV = "TTDF_HUB_REPO"
REVISION_ENV = "TTDF_HUB_REVISION"
CORRUPT_SUFFIX = ".corrupt"
_IMPORT_HINT = "or get a copy elsewhere and run `ttdf import`"


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int | None = None


@dataclass
class DownloadReport:
    """What a download matched, fetched and verified; ``corrupt`` files were moved to ``<name>.corrupt``."""

    repo_id: str
    revision: str
    patterns: list[str]
    dry_run: bool = False
    files: list[HubFile] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    index: IndexReport | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)


def resolve_hub(repo_id: str | None = None, revision: str | None = None,
                taxonomy: Taxonomy | None = None) -> tuple[str, str]:
    """The repo and revision: the arguments, else ``$TTDF_HUB_REPO``/``$TTDF_HUB_REVISION``, else the taxonomy."""
    taxonomy = taxonomy or load_taxonomy()
    return (repo_id or os.environ.get(REPO_ENV) or taxonomy.hub.repo_id,
            revision or os.environ.get(REVISION_ENV) or taxonomy.hub.revision)


def plan_download(filt: VideoFilter | None = None, *, repo_id: str | None = None, revision: str | None = None,
                  taxonomy: Taxonomy | None = None) -> list[str]:
    """Hub ``allow_patterns`` for the videos ``filt`` selects, built from the taxonomy's layout templates.

    Unconstrained fields become ``*``; the manifest is always included so the download can be verified.
    The patterns depend on the layout only; ``repo_id``/``revision`` are accepted so that callers can pass
    the arguments they give :func:`download_dataset`.
    """
    taxonomy = taxonomy or load_taxonomy()
    filt = (filt or VideoFilter()).validate(taxonomy)
    # a mirror laid out before the rename keeps its config folders under the old names (same/cross)
    configs = tuple(n for c in filt.configs for n in (c, *(a for a, t in taxonomy.config_aliases.items() if t == c)))
    values = {"method": filt.methods, "config": configs, "compression": filt.compressions, "split": filt.splits}
    patterns = [taxonomy.layout.manifest]
    for label, template in (("real", taxonomy.layout.real), ("fake", taxonomy.layout.fake)):
        if not filt.labels or label in filt.labels:
            patterns += _expand(template, values)
    return list(dict.fromkeys(patterns))


def download_dataset(root: str | Path, filt: VideoFilter | None = None, *, repo_id: str | None = None,
                     revision: str | None = None, token: str | None = None, dry_run: bool = False, workers: int = 8,
                     verify: bool = True, progress: bool = True) -> DownloadReport:
    """Download the selected part of the dataset into ``root``, verify it against its manifest and index it.

    ``dry_run`` lists the matching remote files and their sizes and writes nothing. Rerunning resumes:
    the hub library skips complete files, and files that failed verification are fetched again.
    """
    taxonomy = load_taxonomy(root=root)
    filt = (filt or VideoFilter()).validate(taxonomy)
    repo_id, revision = resolve_hub(repo_id, revision, taxonomy)
    report = DownloadReport(repo_id=repo_id, revision=revision, patterns=plan_download(filt, taxonomy=taxonomy),
                            dry_run=dry_run)
    root = Path(root)
    if dry_run:
        report.files = _list_remote(repo_id, revision, taxonomy.hub.repo_type, report.patterns, token)
        return report

    with _hub_errors(repo_id, revision, root), _hub_progress(progress):
        snapshot_download(repo_id=repo_id, repo_type=taxonomy.hub.repo_type, revision=revision,
                          allow_patterns=report.patterns, local_dir=str(root), max_workers=workers, token=token)
    report.files = [HubFile(rel, (root / rel).stat().st_size) for rel in find_video_files(root, taxonomy)
                    if _selected(rel, report.patterns)]
    if verify:
        _verify(root, taxonomy, filt, report, workers=workers, progress=progress)
    report.index = index_dataset(root, workers=min(workers, os.cpu_count() or 1), progress=progress)
    return report


def _expand(template: str, values: dict[str, Sequence[str]]) -> list[str]:
    """Every combination of the constrained values in a layout template, ``*`` for the others."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    choices = [tuple(values.get(name) or ()) or ("*",) for name in names]
    return [template.format(**dict(zip(names, combo))) for combo in itertools.product(*choices)]


def _selected(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def _list_remote(repo_id: str, revision: str, repo_type: str, patterns: list[str], token: str | None) -> list[HubFile]:
    with _hub_errors(repo_id, revision, None):
        entries = HfApi().list_repo_tree(repo_id, repo_type=repo_type, revision=revision, recursive=True, token=token)
        files = [HubFile(e.path, getattr(e, "size", None)) for e in entries
                 if hasattr(e, "size") and _selected(e.path, patterns)]
    return sorted(files, key=lambda f: f.path)


def _verify(root: Path, taxonomy: Taxonomy, filt: VideoFilter, report: DownloadReport, *, workers: int,
            progress: bool) -> None:
    """Check every selected file against the manifest's sha256; move mismatches aside so a rerun refetches them."""
    manifest = root / taxonomy.layout.manifest
    if not manifest.is_file():
        report.notes.append(f"{report.repo_id} has no {taxonomy.layout.manifest}; nothing was verified")
        report.unverified = [f.path for f in report.files]
        return
    records = [r for r in read_manifest(manifest, taxonomy) if filt.matches(r) and _selected(r.path, report.patterns)]
    present: list[VideoRecord] = []
    for record in records:
        if not (root / record.path).is_file():
            report.missing.append(record.path)
        elif not record.sha256:
            report.unverified.append(record.path)
        else:
            present.append(record)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(present), desc="verify", unit="video", disable=not progress) as bar:
        for record, digest in zip(present, pool.map(lambda r: sha256_file(root / r.path), present)):
            bar.update(1)
            if digest == record.sha256.lower():
                report.verified.append(record.path)
                continue
            target = root / record.path
            aside = target.with_name(target.name + CORRUPT_SUFFIX)
            os.replace(target, aside)
            report.corrupt.append((record.path, f"sha256 {digest[:12]}… differs from the manifest's "
                                                f"{record.sha256[:12]}…; moved to {aside.name}, "
                                                "rerun to fetch it again"))


@contextlib.contextmanager
def _hub_progress(enabled: bool) -> Iterator[None]:
    if enabled or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


@contextlib.contextmanager
def _hub_errors(repo_id: str, revision: str, root: Path | None) -> Iterator[None]:
    """Turn huggingface_hub and network failures into one-line errors that say what to do."""
    where = f"dataset {repo_id} (revision {revision})"
    login = "log in with `hf auth login` or set HF_TOKEN"
    try:
        yield
    except GatedRepoError as exc:
        raise DownloadError(f"{where} is gated: accept its conditions at https://huggingface.co/datasets/{repo_id} "
                            f"and {login}") from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(f"{where} was not found on the Hugging Face Hub, or it is private: check --repo-id or "
                            f"${REPO_ENV}, or {login}") from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{where}: no such revision; check --revision or ${REVISION_ENV}") from exc
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise DownloadError(f"the Hugging Face Hub refused access to {where} (HTTP {status}): {login}") from exc
        raise DownloadError(f"the Hugging Face Hub failed for {where} ({_first_line(exc)}): retry later to resume, "
                            f"{_IMPORT_HINT}") from exc
    except (OfflineModeIsEnabled, LocalEntryNotFoundError) as exc:
        if constants.is_offline_mode():
            raise DownloadError(f"HF_HUB_OFFLINE is set and {where} is not available locally: unset HF_HUB_OFFLINE "
                                f"to download it, {_IMPORT_HINT}") from exc
        raise _unreachable(where, exc) from exc
    except (HTTPError, ConnectionError, TimeoutError) as exc:
        raise _unreachable(where, exc) from exc
    except HFValidationError as exc:
        raise DownloadError(f"invalid repo id or revision for {where} ({_first_line(exc)}): pass --repo-id "
                            "owner/name") from exc
    except OSError as exc:
        into = f" into {root}" if root else ""
        raise DownloadError(f"downloading {where}{into} failed ({_first_line(exc)}): check free disk space, "
                            "permissions and your network, then rerun to resume") from exc


def _unreachable(where: str, exc: BaseException) -> DownloadError:
    return DownloadError(f"cannot reach the Hugging Face Hub for {where} ({_first_line(exc)}): check your network "
                         f"or HF_ENDPOINT, {_IMPORT_HINT}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0][:200] if lines else type(exc).__name__)


__all__ = ["DownloadReport", "HubFile", "REPO_ENV", "REVISION_ENV", "download_dataset", "plan_download",
           "resolve_hub"]
