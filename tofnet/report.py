"""Evaluation reports: overall and per-group metrics, written as JSON, Markdown and a ROC plot.

A group is a slice of the fakes (method x configuration x compression, or a marginal of those
with ``"*"`` for "all"); it is scored against the real videos of the same compression(s), since
reals have no method or configuration and AUC needs both classes.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from tofnet.metrics import ClipPrediction, VideoPrediction, aggregate_videos, binary_metrics
from ttdf.errors import TTDFError
from ttdf.fsutil import atomic_path, atomic_write_text

ALL = "*"
_METRIC_COLUMNS = (("ACC", "acc"), ("AUC", "auc"), ("EER", "eer"), ("AP", "ap"))


def evaluation_report(clips: Sequence[ClipPrediction], *, threshold: float = 0.5, meta: dict | None = None) -> dict:
    """Clip-level, video-level and per-group metrics of one evaluation run.

    ``videos`` carries the per-video scores so that :func:`write_report` can draw the ROC from the
    report alone.
    """
    videos = aggregate_videos(clips)
    return {
        "meta": {"threshold": threshold, **(meta or {})},
        "clip": binary_metrics([c.label for c in clips], [c.prob for c in clips], threshold=threshold),
        "video": _video_metrics(videos, threshold),
        "groups": _group_metrics(videos, threshold),
        "videos": [asdict(v) for v in videos],
    }


def write_report(report: dict, out_dir: str | Path, *, title: str = "Evaluation") -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``roc.png`` into ``out_dir``, each atomically."""
    out = Path(out_dir)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "roc": out / "roc.png"}
    atomic_write_text(paths["json"], json.dumps(report, indent=2) + "\n")
    atomic_write_text(paths["markdown"], _markdown_report(report, title, roc_name=paths["roc"].name))
    _write_roc(report, paths["roc"], title)
    return paths


def markdown_table(rows: Sequence[dict], columns: Sequence[str], *, floatfmt: str = ".3f") -> str:
    """A GitHub Markdown table of ``rows`` restricted to ``columns``; ``None`` shows as ``n/a``."""
    lines = ["| " + " | ".join(_cell(c, floatfmt) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), floatfmt) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def summary_table(results: dict[str, dict], *, title_column: str = "held out") -> str:
    """One row per evaluation report (video-level ACC, AUC, EER, AP) and a final ``mean`` row."""
    rows = []
    for name, report in results.items():
        if "video" not in report:
            raise TTDFError(f"report {name!r} has no 'video' metrics; pass the output of evaluation_report")
        rows.append({title_column: name, **{col: report["video"].get(key) for col, key in _METRIC_COLUMNS}})
    mean = {title_column: "mean"}
    for col, _ in _METRIC_COLUMNS:
        values = [row[col] for row in rows if row[col] is not None]
        mean[col] = sum(values) / len(values) if values else None
    return markdown_table([*rows, mean], [title_column, *(col for col, _ in _METRIC_COLUMNS)])


def group_name(group: dict) -> str:
    """``method/config/compression`` of a group row (``-`` where the key is missing)."""
    return "/".join(str(group.get(k) or "-") for k in ("method", "config", "compression"))


def _video_metrics(videos: Sequence[VideoPrediction], threshold: float) -> dict:
    return binary_metrics([v.label for v in videos], [v.prob for v in videos], threshold=threshold)


def _group_metrics(videos: Sequence[VideoPrediction], threshold: float) -> list[dict]:
    """Every method x config x compression that has fakes, then the per-method, -config and -compression marginals."""
    fakes = [v for v in videos if v.label == 1]
    methods = _distinct(v.method for v in fakes)
    configs = _distinct(v.config for v in fakes)
    compressions = _distinct(v.compression for v in fakes)
    keys = [(m, c, q) for m in methods for c in configs for q in compressions]
    keys += [(m, ALL, ALL) for m in methods] + [(ALL, c, ALL) for c in configs] + [(ALL, ALL, q) for q in compressions]
    groups = []
    for method, config, compression in keys:
        members = [v for v in videos if _in_group(v, method, config, compression)]
        if not any(v.label == 1 for v in members):
            continue
        groups.append({"method": method, "config": config, "compression": compression, "level": "video",
                       **_video_metrics(members, threshold)})
    return groups


def _in_group(video: VideoPrediction, method: str | None, config: str | None, compression: str) -> bool:
    if compression != ALL and video.compression != compression:
        return False
    if video.label == 0:
        return True
    return (method == ALL or video.method == method) and (config == ALL or video.config == config)


def _distinct(values) -> list:
    return sorted(set(values), key=lambda v: (v is None, str(v)))


def _cell(value, floatfmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value).replace("|", "\\|")


def _metrics_line(label: str, metrics: dict) -> str:
    parts = [f"n_real={metrics['n_real']}", f"n_fake={metrics['n_fake']}"]
    parts += [f"{col} {_cell(metrics.get(key), '.3f')}" for col, key in _METRIC_COLUMNS]
    return f"- **{label}**: " + ", ".join(parts)


def _markdown_report(report: dict, title: str, *, roc_name: str) -> str:
    lines = [f"# {title}", ""]
    scalars = {k: v for k, v in report.get("meta", {}).items() if isinstance(v, (str, int, float, bool)) or v is None}
    lines += [f"- {key}: {_cell(value, 'g')}" for key, value in scalars.items()]
    lines += ["", "## Overall", "", _metrics_line("clip level", report["clip"]),
              _metrics_line("video level", report["video"]), "", "## Groups (video level)", ""]
    rows = [{"group": group_name(g), "n_real": g["n_real"], "n_fake": g["n_fake"],
             **{col: g.get(key) for col, key in _METRIC_COLUMNS}} for g in report.get("groups", [])]
    lines.append(markdown_table(rows, ["group", "n_real", "n_fake", *(col for col, _ in _METRIC_COLUMNS)]))
    lines += [f"![ROC]({roc_name})", ""]
    return "\n".join(lines)


def _write_roc(report: dict, target: Path, title: str) -> None:
    """Video-level ROC: all videos, then each method's fakes against all reals."""
    videos = report.get("videos", [])
    curves = [("all", videos)]
    for method in _distinct(v["method"] for v in videos if v["label"] == 1):
        curves.append((str(method), [v for v in videos if v["label"] == 0 or v["method"] == method]))
    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)  # the Agg canvas directly: no pyplot state, no GUI backend
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    drawn = 0
    for name, members in curves:
        labels = [v["label"] for v in members]
        if len(set(labels)) < 2:
            continue
        scores = [v["prob"] for v in members]
        fpr, tpr, _ = roc_curve(labels, scores)
        auc = binary_metrics(labels, scores)["auc"]
        ax.plot(fpr, tpr, linewidth=2 if name == "all" else 1.2, label=f"{name} (AUC {auc:.3f})")
        drawn += 1
    if drawn:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no ROC: needs real and fake videos", ha="center", va="center")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate",
           title=f"{title}: video-level ROC")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
