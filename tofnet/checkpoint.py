"""Checkpoints where the config travels with the weights: ``model.safetensors`` + ``config.json``.

``config.json`` records the registry name and resolved kwargs (``model.model_config``), so
:func:`load_checkpoint` rebuilds the exact model with no other flags, from a directory or a
Hugging Face Hub repo id.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import huggingface_hub
import safetensors.torch
from safetensors import SafetensorError
from torch import nn

from tofnet.models import is_model, list_models, rebuild_model
from ttdf.errors import DownloadError, TTDFError
from ttdf.fsutil import atomic_path, atomic_write_text

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_VERSION = 1
_RESERVED = ("model", "pretrained_cfg", "required_inputs", "format_version")
_HUB_PREFIXES = ("hf-hub:", "hf://")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def save_checkpoint(directory: str | Path, model: nn.Module, *, extra_config: dict[str, Any] | None = None) -> Path:
    """Write weights then config, each atomically; returns ``directory``."""
    model = _unwrap(model)
    model_config = getattr(model, "model_config", None)
    if not model_config:
        raise TTDFError(f"{type(model).__name__} has no model_config; build it with "
                        "tofnet.models.create_model so the checkpoint can record how to rebuild it")
    clash = sorted(set(extra_config or {}) & set(_RESERVED))
    if clash:
        raise TTDFError(f"extra_config must not set reserved key(s) {', '.join(clash)}; rename them")
    config = {"format_version": FORMAT_VERSION, "model": model_config,
              "pretrained_cfg": dict(getattr(model, "pretrained_cfg", {})),
              "required_inputs": list(getattr(model, "required_inputs", ())), **(extra_config or {})}
    text = json.dumps(config, indent=2, sort_keys=False) + "\n"  # fails early on unserialisable extras
    directory = Path(directory)
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        safetensors.torch.save_model(model, str(tmp))  # drops tied duplicates instead of refusing them
    atomic_write_text(directory / CONFIG_NAME, text)
    return directory


def write_threshold(directory: str | Path, threshold: float, *, calibration: dict[str, Any]) -> Path:
    """Replace a local checkpoint's saved threshold (atomically), keeping how it was picked beside it."""
    path = Path(directory)
    config = _read_config(path)
    config.update(threshold=threshold, calibration=calibration)
    atomic_write_text(path / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=False) + "\n")
    return path


def read_checkpoint_config(source: str | Path, *, revision: str | None = None) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory or hub repo (only that file is fetched)."""
    return _read_config(_resolve(source, (CONFIG_NAME,), revision))


def load_checkpoint(source: str | Path, *, map_location: Any = "cpu",
                    revision: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model recorded in ``config.json``, load weights strictly; returns (model in eval mode, config)."""
    directory = _resolve(source, (CONFIG_NAME, WEIGHTS_NAME), revision)
    config = _read_config(directory)
    spec = config["model"]
    name, kwargs = spec["name"], dict(spec.get("kwargs") or {})
    if not is_model(name):
        raise TTDFError(f"{directory / CONFIG_NAME}: model {name!r} is not registered (known: "
                        f"{', '.join(list_models())}); upgrade tofnet or import the module that registers it")
    kwargs.pop("pretrained", None)
    try:
        model = rebuild_model(name, kwargs)
    except (TTDFError, TypeError, ValueError) as err:  # a hand-edited or damaged config.json
        raise TTDFError(f"{directory / CONFIG_NAME}: cannot rebuild {name!r}: {err}; fix its model kwargs or "
                        "re-save the checkpoint") from err
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise TTDFError(f"{weights}: missing; the checkpoint is incomplete, copy or re-save it with save_checkpoint")
    try:
        missing, unexpected = safetensors.torch.load_model(model, str(weights), strict=False)
        mismatch = _summary(missing, unexpected)
    except (SafetensorError, OSError) as err:
        raise TTDFError(f"{weights}: corrupt or truncated safetensors file ({_first_line(err)}); "
                        "re-download or re-save the checkpoint") from err
    except RuntimeError as err:  # same names, different shapes
        mismatch = _mismatch_line(err)
    if mismatch:
        raise TTDFError(f"{weights}: weights do not match the model in {CONFIG_NAME} ({mismatch}); "
                        "the two files come from different checkpoints, re-save it")
    return model.to(map_location).eval(), config


def _resolve(source: str | Path, files: tuple[str, ...], revision: str | None) -> Path:
    """A local checkpoint directory, or a hub repo id fetched into the Hugging Face cache."""
    text = str(source)
    repo_id = next((text[len(p):] for p in _HUB_PREFIXES if text.startswith(p)), None)
    path = Path(text).expanduser()
    if repo_id is None and (path.exists() or not _REPO_ID.match(text)):
        if not path.is_dir():
            what = "is a file, pass its directory" if path.exists() else "does not exist"
            raise TTDFError(f"{path}: checkpoint directory {what} (expected {CONFIG_NAME} + {WEIGHTS_NAME} "
                            "written by save_checkpoint, or a Hugging Face Hub repo id 'user/name')")
        return path
    repo_id = repo_id or text
    try:
        local = huggingface_hub.snapshot_download(repo_id=repo_id, revision=revision, allow_patterns=list(files))
    except Exception as err:  # offline, unknown repo, auth, HTTP: all end the same way for the user
        raise DownloadError(f"{repo_id}: not a local directory, and fetching it from the Hugging Face Hub failed "
                            f"({type(err).__name__}: {_first_line(err)}); check the path or repo id, "
                            "go online, or set HF_HUB_OFFLINE=1 with a cached copy") from err
    return Path(local)


def _read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise TTDFError(f"{path}: missing; {directory} is not a checkpoint written by save_checkpoint "
                        f"(expected {CONFIG_NAME} + {WEIGHTS_NAME})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TTDFError(f"{path}: unreadable checkpoint config ({_first_line(err)}); re-save the checkpoint") from err
    version = config.get("format_version") if isinstance(config, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise TTDFError(f"{path}: no integer 'format_version' (found {version!r}); not a checkpoint written by "
                        "save_checkpoint, re-save it")
    if version > FORMAT_VERSION:
        raise TTDFError(f"{path}: checkpoint format {version} is newer than this tofnet reads ({FORMAT_VERSION}); "
                        "upgrade tofnet")
    spec = config.get("model")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or \
            not isinstance(spec.get("kwargs", {}), dict):
        raise TTDFError(f"{path}: no 'model': {{'name': ..., 'kwargs': {{...}}}} entry; re-save the checkpoint "
                        "with save_checkpoint")
    return config


def _unwrap(model: nn.Module) -> nn.Module:
    """The module behind DataParallel/DDP or torch.compile, whose state_dict keys are the model's own."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _summary(missing: list[str], unexpected: list[str]) -> str:
    parts = [f"{len(keys)} {what} key(s): {', '.join(sorted(keys)[:3])}{', ...' if len(keys) > 3 else ''}"
             for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
    return "; ".join(parts)


def _mismatch_line(err: RuntimeError) -> str:
    lines = [line.strip() for line in str(err).splitlines() if "size mismatch" in line]
    return lines[0] if lines else _first_line(err)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
