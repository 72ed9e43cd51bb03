"""``python -m bench`` (``make bench``): throughput of every stage, side by side with the bare alternative.

Stages run in order (decode, flow, compress, forge, index, train, gpu, extrapolate) on data synthesised into a
temporary folder; each measurement runs in its own forked process. Results: a Markdown table on
stdout and in ``<out>/bench.md``, everything in ``<out>/bench.json``. Exit code 1 when a row failed.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from bench.common import Row, by_id, current_rss_mb, run_isolated

# NOTE: stage modules (torch, timm, ...) are imported in main(), not here: worker pools started with "spawn"
# re-import this module in every worker, which must stay cheap to start.
STAGE_NAMES = ("decode", "flow", "compress", "forge", "index", "train", "gpu", "extrapolate")


def stages() -> dict[str, ModuleType]:
    """The stage modules in run order; importing them also loads the heavy libraries once, before any fork."""
    return {name: importlib.import_module(f"bench.{name}") for name in STAGE_NAMES}


def all_rows() -> tuple[str, ...]:
    return tuple(row for module in stages().values() for row in module.ROWS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Options, with ``--only`` checked against the stages' row ids (which imports them: call it once)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out"), help="folder for bench.md and bench.json")
    parser.add_argument("--repeats", type=int, help="timed repeats per row (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repeat: a seconds-long smoke run")
    parser.add_argument("--only", nargs="+", default=(), metavar="ROW",
                        help=f"stages or row-id prefixes to run, e.g. flow decode.seq ({', '.join(STAGE_NAMES)})")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.quick:  # a smoke run on a shared machine: one OpenMP thread degrades far less under oversubscription
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported, which reads it once
    known = all_rows()
    unknown = [t for t in args.only if not any(r == t or r.startswith(t + ".") for r in known)]
    if unknown:
        parser.error(f"--only: no row matches {unknown}; rows are {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> int:
    started, date, load_start = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M %Z"), _load_average()
    from bench import report
    from bench.data import FULL, QUICK, BenchData, Context, make_data

    args = parse_args(argv)
    modules = stages()
    profile = QUICK if args.quick else FULL
    only = tuple(args.only)
    if any(t == "extrapolate" or t.startswith("extrapolate.") for t in only):
        only += modules["extrapolate"].NEEDS  # estimates are computed from these rows
    machine, _ = run_isolated(report.machine_info)
    with tempfile.TemporaryDirectory(prefix="ttdf-bench-") as tmp:
        _log(f"synthesising inputs ({profile.name} profile) in {tmp}")
        facts, _ = run_isolated(lambda: make_data(Path(tmp), profile))
        data = BenchData(workdir=Path(tmp), **facts)
        ctx = Context(profile=profile, repeats=args.repeats or profile.repeats, data=data, only=only,
                      gpu=machine["gpu"])
        rows: list[Row] = []
        for name, module in modules.items():
            if not any(ctx.wants(r) for r in module.ROWS):
                continue
            stage_started = time.perf_counter()
            stage_rows = module.run(ctx)
            _log(f"{name}: {len(stage_rows)} rows in {time.perf_counter() - stage_started:.0f} s")
            ctx.rows.update(by_id(stage_rows))
            rows += stage_rows
    findings = [line for module in modules.values() for line in module.notes(ctx.rows)]
    meta = {"date": date, "profile": profile.name, "repeats": ctx.repeats, "wall_s": time.perf_counter() - started,
            "machine": machine, "fork_base_rss_mb": current_rss_mb(), "only": list(args.only),
            "load_average_1min": {"start": load_start, "end": _load_average()}}
    print(report.write(args.out, rows, findings, meta))
    failed = [row for row in rows if row.status == "error"]
    for row in failed:
        _log(f"{row.id} failed:\n{row.extra.get('traceback', row.note)}")
    return 1 if failed else 0


def _load_average() -> float | None:
    """Other processes on the machine skew every figure; the report shows how busy it was."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
