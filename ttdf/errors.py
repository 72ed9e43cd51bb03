"""Errors a user can act on.

Every exception raised on purpose by ``ttdf`` and ``tofnet`` derives from :class:`TTDFError`;
the CLIs print its message as one line and exit non-zero, so the message must name the file and
say what to do.
"""
from __future__ import annotations

from pathlib import Path


class TTDFError(Exception):
    """A problem with the user's input or environment, printed without a traceback."""

    exit_code = 2


class TaxonomyError(TTDFError):
    """The taxonomy file is missing or malformed."""


class ManifestError(TTDFError):
    """A manifest is malformed or points outside the dataset root."""


class VideoError(TTDFError):
    """A video cannot be opened or decoded."""

    def __init__(self, path: str | Path, reason: str, hint: str = "re-download, re-import or delete it"):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}; {hint}")


class IndexDatabaseError(TTDFError):
    """The SQLite index is missing or corrupt."""


class DownloadError(TTDFError):
    """The hub could not be reached or refused the request."""
