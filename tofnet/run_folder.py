"""Decide what a training run may do with its ``--out`` folder: start, resume, or refuse.

A rerun compares its resolved configuration with the folder's ``run_config.json`` and never guesses:
it resumes only an identical run (``--resume``), starts over only when told (``--overwrite``), and
otherwise refuses with one line naming the differing keys and the way out.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ttdf.errors import TTDFError

RUN_CONFIG = "run_config.json"
# Keys that say how or where to run, not what is trained: they may change between a run and its resume.
RUN_CONTROL_KEYS = frozenset({"root", "out", "resume", "overwrite", "progress", "workers", "device", "compile",
                              "allow_split_leak", "frame_cache"})
_RUN_FILES = (RUN_CONFIG, "metrics.jsonl", "best", "last", "tensorboard")


def config_diff(saved: dict, wanted: dict, *, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (``data.size``, ``epochs``), run-control keys ignored."""
    keys = []
    for key in sorted(set(saved) | set(wanted)):
        if not prefix and key in RUN_CONTROL_KEYS:
            continue
        old, new = saved.get(key), wanted.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            keys += config_diff(old, new, prefix=f"{prefix}{key}.")
        elif old != new:
            keys.append(f"{prefix}{key}")
    return keys


def check_run_folder(out: Path, wanted: dict, *, resume: bool, overwrite: bool, epochs_done: int | None,
                     canonical: Callable[[dict], dict] = dict) -> str:
    """``"start"``, ``"resume"`` or ``"overwrite"`` for a run writing to ``out``; raises when it must not run.

    ``epochs_done``: epochs the folder's last checkpoint holds (None when it has none); ``canonical``
    rewrites the saved config as the current version would (renamed values, new defaults).
    """
    path = out / RUN_CONFIG
    if overwrite:
        return "overwrite" if path.exists() or epochs_done is not None else "start"
    if not path.exists():
        if epochs_done is not None:
            raise TTDFError(f"{out}: holds checkpoints but no {RUN_CONFIG}, so nothing says how they were trained; "
                            "pass --out elsewhere or --overwrite to start over")
        return "start"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TTDFError(f"{path}: unreadable ({exc}); pass --out elsewhere or --overwrite to start over") from exc
    differing = config_diff(canonical(saved), wanted)
    if differing:
        shown = ", ".join(differing[:6]) + (", ..." if len(differing) > 6 else "")
        raise TTDFError(f"{out}: holds a run with different settings ({shown}); pass --out elsewhere or "
                        "--overwrite to start over")
    if not resume:
        done = int(epochs_done or 0)
        state = "finished" if done >= int(wanted.get("epochs", 0)) else f"stopped after {done} epoch(s)"
        raise TTDFError(f"{out}: holds a run with the same settings ({state}); pass --resume to continue it, "
                        "--out elsewhere, or --overwrite to start over")
    return "resume"


def clear_run_folder(out: Path) -> None:
    """Delete what a previous run wrote (and only that)."""
    for name in _RUN_FILES:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
