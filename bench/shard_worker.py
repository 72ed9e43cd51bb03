"""What one shard process of the ``flow.shards`` row runs: kept apart so a spawned child imports only this.

Started with "spawn" from the measuring child, so it pays a process start and the flow imports like a
job-array task would (the ``tofnet`` CLI would add its own imports: torch and timm, seconds on this machine).
"""
from __future__ import annotations

import sys


def flow_shard(root: str, size: tuple[int, int], shard: tuple[int, int]) -> None:
    from tofnet.flow_cache import compute_flow_for_index

    report = compute_flow_for_index(root, backend="dis", size=size, workers=1, shard=shard, progress=False)
    if report.failed:
        print(f"shard {shard}: {len(report.failed)} failed, e.g. {report.failed[0]}", file=sys.stderr)
        sys.exit(1)
