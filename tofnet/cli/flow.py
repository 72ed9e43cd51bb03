"""``tofnet flow``: fill a dataset's optical-flow cache (resumable; shardable across machines)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttdf.cli.options import filter_from_args, filter_options, root_options, shard_options, size_type, workers_options
from ttdf.errors import TTDFError
from ttdf.video import READER_BACKENDS
from tofnet.flow import DEFAULT_FLOW_BACKEND, list_flow_backends
from tofnet.flow_cache import compute_flow_for_index

DEFAULT_SIZE = (112, 112)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "flow", parents=[root_options(), filter_options(), workers_options(), shard_options(), flow_options()],
        help="precompute optical flow for the indexed videos",
        description="Compute optical flow for every ok video in the index (run `ttdf index` first) into "
                    "<root>/.ttdf/flow. Cached videos are skipped, so an interrupted run resumes; a failing "
                    "video is reported and the others go on (exit code 1 if any failed).")
    parser.add_argument("--reader-backend", choices=["auto", *READER_BACKENDS], default="auto",
                        help="video decoder (default: auto = pyav); use the one training reads frames with")
    parser.set_defaults(func=run)


def flow_options() -> argparse.ArgumentParser:
    """--flow-backend/--size/--flow-weights, shared by every command that needs flow."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("optical flow")
    group.add_argument("--flow-backend", choices=list_flow_backends(), default=DEFAULT_FLOW_BACKEND,
                       help="flow estimator, recorded with every checkpoint (default: %(default)s on every machine; "
                            "raft_small is more accurate and fast on a GPU)")
    group.add_argument("--size", type=size_type, default=DEFAULT_SIZE, metavar="HxW",
                       help="frame size, HEIGHTxWIDTH, flow and clips are computed at (default: 112x112)")
    group.add_argument("--flow-weights", type=Path, default=None, metavar="FILE",
                       help="RAFT weights: a torchvision RAFT state_dict (.pth or .safetensors) instead of "
                            "downloading torchvision's")
    return parser


def flow_settings(args: argparse.Namespace) -> tuple[str, dict]:
    """(backend, backend kwargs) from :func:`flow_options`' arguments."""
    backend = args.flow_backend
    kwargs: dict = {}
    if args.flow_weights is not None:
        if not backend.startswith("raft"):
            raise TTDFError(f"--flow-weights is for the RAFT backends, not {backend!r}; drop it or pass "
                            f"--flow-backend raft_small")
        kwargs["weights"] = str(args.flow_weights)
    return backend, kwargs


def run(args: argparse.Namespace) -> int:
    backend, kwargs = flow_settings(args)
    report = compute_flow_for_index(args.root, filter_from_args(args), backend=backend, size=args.size,
                                    backend_kwargs=kwargs, workers=args.workers, shard=args.shard,
                                    progress=args.progress, reader_backend=args.reader_backend)
    shard = f" (shard {args.shard[0]}/{args.shard[1]})" if args.shard[1] > 1 else ""
    print(f"flow {report.key} in {report.cache_dir}{shard}: computed {report.computed}, cached {report.cached}, "
          f"failed {len(report.failed)}")
    for path, reason in report.failed:
        print(f"  failed {path}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0
