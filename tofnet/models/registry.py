"""One registry for every detector, so configs name models and checkpoints can rebuild them.

Builders are small functions decorated with :func:`register_model`; :func:`create_model` calls one
and stamps the result with ``model_config`` (name + resolved kwargs), which is all
:mod:`tofnet.checkpoint` needs to rebuild the exact model later.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from ttdf.errors import TTDFError

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_LEGACY_KWARGS: dict[str, dict[str, Any]] = {}
_C = TypeVar("_C")
_F = TypeVar("_F", bound=Callable[..., nn.Module])


def register_model(fn: _F | None = None, *, name: str | None = None,
                   legacy_kwargs: dict[str, Any] | None = None) -> Any:
    """Register ``fn`` under ``name`` (default: its function name); a second registration raises.

    ``legacy_kwargs``: the values of options added after checkpoints were saved that those checkpoints
    must be rebuilt with (their config.json does not name the option; the new default would change them).
    """

    def _register(builder: _F) -> _F:
        key = name or builder.__name__
        if key in _MODELS:
            raise TTDFError(f"model {key!r} is already registered (by {_MODELS[key].__module__}); "
                            "pick another name for the new builder")
        _MODELS[key] = builder
        _LEGACY_KWARGS[key] = dict(legacy_kwargs or {})
        return builder

    return _register(fn) if fn is not None else _register


def list_models() -> list[str]:
    """Sorted names accepted by :func:`create_model`."""
    return sorted(_MODELS)


def is_model(name: str) -> bool:
    return name in _MODELS


def create_model(name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build registered model ``name``; ``kwargs`` override fields of its config dataclass."""
    if name not in _MODELS:
        raise TTDFError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    model = _MODELS[name](pretrained=pretrained, **kwargs)
    cfg = getattr(model, "cfg", None)
    resolved = _jsonable(dataclasses.asdict(cfg)) if dataclasses.is_dataclass(cfg) else dict(kwargs)
    resolved.pop("pretrained", None)  # weights come from the checkpoint when rebuilding
    model.model_config = {"name": name, "kwargs": resolved}
    return model


def rebuild_model(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """The model a checkpoint's ``config.json`` describes, options it predates taking their legacy values."""
    return create_model(name, pretrained=False, **{**_LEGACY_KWARGS.get(name, {}), **kwargs})


def config_from_kwargs(cfg_cls: type[_C], model_name: str, defaults: dict[str, Any],
                       kwargs: dict[str, Any]) -> _C:
    """Merge builder ``defaults`` with user ``kwargs`` into ``cfg_cls``; unknown keys raise TTDFError."""
    fields = {f.name for f in dataclasses.fields(cfg_cls)}  # type: ignore[arg-type]
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TTDFError(f"model {model_name!r} has no option(s) {', '.join(unknown)}; "
                        f"valid options: {', '.join(sorted(fields))}")
    return cfg_cls(**{**defaults, **kwargs})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
