"""Machine facts, and the Markdown table + JSON file a bench run leaves behind."""
from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

from bench.common import BUSY_CORES, Row, format_number

LEGEND = ("median/best: over the repeats (best = fastest repeat). ratio: best against the reference's best "
          "(the least disturbed repeats on a shared machine); >1 = faster, for sizes the size quotient. "
          "+RSS: peak resident memory of the measuring process above what it had when forked from the bench "
          "process ({base}). cores: CPU time over wall time of the measuring child (prepare included) and of every "
          "other process on the machine meanwhile (/proc/stat): the second number is how disturbed the row was.")


def machine_info() -> dict:
    """Platform, cores, library versions and GPU (run in a child: asking CUDA must not happen before a fork)."""
    import av
    import cv2
    import decord
    import numpy
    import timm
    import torch
    import torchvision

    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                     "cv2": cv2.__version__, "av": av.__version__, "decord": decord.__version__,
                     "numpy": numpy.__version__},
        "torch_threads": torch.get_num_threads(),
        "cv2_threads": cv2.getNumThreads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "ffmpeg": shutil.which("ffmpeg"),
    }


def machine_line(machine: dict) -> str:
    v = machine["versions"]
    return (f"{machine['cpu'] or 'unknown CPU'}, {machine['cpus_usable']} usable cores, {machine['platform']}, "
            f"Python {machine['python']}, torch {v['torch']} (threads: {machine['torch_threads']}), "
            f"cv2 {v['cv2']}, av {v['av']}, decord {v['decord']}, GPU: {machine['gpu'] or 'none'}")


def markdown(rows: list[Row], findings: list[str], meta: dict) -> str:
    lines = [
        "# Benchmarks (`make bench`)",
        "",
        f"{meta['date']}, profile `{meta['profile']}`, {meta['repeats']} repeat(s), "
        f"whole run {meta['wall_s']:.0f} s.  ",
        f"Machine: {machine_line(meta['machine'])}.  ",
        _load_line(meta),
        "",
        "| row | measurement | median | best | unit | ratio | +RSS MB | cores: row / others | note |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}x {row.ratio_to}" if row.ratio is not None else ""
        if row.status != "ok":
            median = best = row.status
        else:
            median, best = format_number(row.median), format_number(row.best)
        rss = format_number(row.extra_rss_mb) if row.extra_rss_mb is not None else ""
        note = row.note.replace("|", "/")
        lines.append(f"| `{row.id}` | {row.label} | {median} | {best} | {row.unit} | {ratio} | {rss} | "
                     f"{_cores(row)} | {note} |")
    base = meta.get("fork_base_rss_mb")
    lines += ["", LEGEND.format(base=f"{base:.0f} MB: Python + torch/timm/OpenCV imports" if base else "n/a"), ""]
    disturbed = [f"`{row.id}`" for row in rows if row.extra.get("others_cores", 0.0) > BUSY_CORES]
    lines += [f"Disturbed rows (other processes used more than {BUSY_CORES} cores on average while they ran): "
              f"{', '.join(disturbed) or 'none'}.", ""]
    if findings:
        lines += ["Findings:", "", *(f"- {line}" for line in findings), ""]
    return "\n".join(lines)


def _cores(row: Row) -> str:
    """Average cores the row's processes used, and cores every other process on the machine used meanwhile."""
    if "cores" not in row.extra:
        return ""
    others = row.extra.get("others_cores")
    return f"{row.extra['cores']:.1f} / {others:.1f}" if others is not None else f"{row.extra['cores']:.1f}"


def write(out: Path, rows: list[Row], findings: list[str], meta: dict) -> str:
    """Write ``bench.md`` and ``bench.json`` under ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, findings, meta)
    (out / "bench.md").write_text(text)
    payload = {**meta, "rows": [row.to_dict() for row in rows], "findings": findings,
               "ratios": {row.id: {"ratio": row.ratio, "to": row.ratio_to} for row in rows if row.ratio is not None}}
    (out / "bench.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return text


def _load_line(meta: dict) -> str:
    load = meta.get("load_average_1min") or {}
    if load.get("start") is None:
        return ""
    return (f"Load average (1 min) at start / end: {load['start']:.1f} / {load['end']:.1f} on "
            f"{meta['machine']['cpus_usable']} cores (the bench itself accounts for about 1; more is other work "
            "sharing the CPUs, which skews timings).")


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None
