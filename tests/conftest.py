"""Shared fixtures: no test touches the network or the user's caches."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("hf_home")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.delenv("TTDF_ROOT", raising=False)
    monkeypatch.delenv("TTDF_TAXONOMY", raising=False)
