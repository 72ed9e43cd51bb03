"""``make gpu-check`` on a machine without CUDA: one SKIP line per check and exit code 0."""
from __future__ import annotations

import torch

from bench import gpu_check


def test_without_cuda_every_check_is_skipped(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--work", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"SKIP {name}" for name in gpu_check.CHECKS]
    assert list(tmp_path.iterdir()) == []  # nothing was synthesised
