"""``tofnet benchmark``: several detectors under one leave-one-method-out protocol, in one table.

Every model is trained and evaluated exactly as ``tofnet loo --protocols method`` would (same data,
sampling, epochs, seed, threshold calibration on validation), each in ``<out>/<model>/method-<m>/``,
so an interrupted benchmark resumes and a model added later reuses the finished ones. The result is
one table, model x held-out method, of video-level AUC, ACC, EER and AP, plus the share of real
and of forged test videos called correctly at the saved threshold (or, with ``false_alarm_rate``, at one
calibrated on the validation real videos: :mod:`tofnet.calibrate`), and the AUC of each generative
configuration apart (TT-DF's Match and Mismatch: the held-out method's forgeries of one
configuration against all real test videos):

    <out>/benchmark.json   every row, with the protocol settings
    <out>/benchmark.md     the tables
    <out>/benchmark.png    AUC per held-out method and model (grouped bars)

One training run is one draw of its randomness (initialisation, clip sampling, augmentation): on a few
dozen test videos a held-out cell can move by 0.4 AUC between two seeds of one recipe. ``seeds`` trains
every cell once per seed (the base seed in ``<out>/<model>/``, others in ``<out>/<model>/seed-<s>/``);
the tables then give each cell's mean and standard deviation over the seeds, and the paired comparison
resamples the seeds as well as the test videos, so its interval covers both.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from tofnet.calibrate import check_false_alarm_rate
from tofnet.loo import leave_one_method_out
from tofnet.metrics import auc_interval, bootstrap_counts, resampled_auc
from tofnet.report import markdown_table
from tofnet.train import TrainConfig, build_model, reads_pixels
from ttdf.errors import TTDFError
from ttdf.fsutil import atomic_path, atomic_write_text

log = logging.getLogger(__name__)
# TOF-Net, its frame/temporal/flow baselines, and the field's standard frame- and clip-level detectors
DEFAULT_MODELS = ("tofnet", "rgb_frame", "rgb_temporal", "flow_only", "flow_stats_only", "xception_frame",
                  "efficientnet_b4_frame", "r2plus1d_18")
METRICS = ("auc", "acc", "eer", "ap", "real_acc", "fake_acc")
MEAN = "mean"
# what `make detector` aims for on every held-out method (issue: held-out families and real sources)
DETECTOR_GOALS = {"auc": 0.90, "real_acc": 0.85, "fake_acc": 0.80}
CI_LEVEL = 0.95


def model_kwargs_for(model: str, kwargs: dict) -> dict:
    """Plain ``key`` options apply to every model; ``model:key`` ones only to that model."""
    chosen = {k: v for k, v in kwargs.items() if ":" not in k}
    chosen.update({k.split(":", 1)[1]: v for k, v in kwargs.items() if k.split(":", 1)[0] == model and ":" in k})
    return chosen


def run_benchmark(base: TrainConfig, models: Sequence[str], *, methods: Sequence[str] = (),
                  seeds: Sequence[int] = (), false_alarm_rate: float | None = None) -> dict:
    """Leave-one-method-out for each of ``models``, once per seed (default: ``base.seed``); writes and returns
    the benchmark table. ``false_alarm_rate``: accuracies at thresholds calibrated on validation real videos."""
    if not models:
        raise TTDFError("tofnet benchmark: no model given; pass --models, e.g. --models tofnet rgb_frame")
    if len(set(models)) != len(models):
        raise TTDFError(f"tofnet benchmark: --models lists a model twice ({' '.join(models)})")
    if false_alarm_rate is not None:
        check_false_alarm_rate(false_alarm_rate)  # before any training, not after the first cell
    seeds = tuple(seeds) or (base.seed,)
    if len(set(seeds)) != len(seeds):
        raise TTDFError(f"tofnet benchmark: --seeds lists a seed twice ({' '.join(map(str, seeds))})")
    rows = []
    for model in models:
        for seed in seeds:
            config = replace(base, model=model, seed=seed, out=str(seed_folder(base, model, seed)),
                             model_kwargs=model_kwargs_for(model, base.model_kwargs))
            if config.pseudo_fakes and not reads_pixels(build_model(config)):
                log.warning("%s reads no RGB: trained without --pseudo-fakes (they change pixels, not flow)", model)
                config = replace(config, pseudo_fakes=0)
            cells = leave_one_method_out(config, tuple(methods), false_alarm_rate=false_alarm_rate)
            for held_out, report in cells.items():
                rows.append({"model": model, "held_out": held_out, "seed": seed, **heldout_metrics(report)})
    table = {"protocol": "leave-one-method-out, video level", "models": list(models),
             "held_out": list(dict.fromkeys(r["held_out"] for r in rows)), "seeds": list(seeds),
             "threshold": ("calibrated on validation real videos, false-alarm rate "
                           f"{false_alarm_rate:g}" if false_alarm_rate is not None else "picked on validation "
                           "at the equal-error point"), "rows": rows,
             "config": base.to_dict()}
    write_benchmark(table, base.out)
    return table


def seed_folder(base: TrainConfig, model: str, seed: int) -> Path:
    """Where ``model``'s cells of one seed live: the base seed's where a one-seed benchmark puts them (so it
    reuses them), every other seed's in its own ``seed-<s>`` folder beside them."""
    folder = Path(base.out) / model
    return folder if seed == base.seed else folder / f"seed-{seed}"


def heldout_metrics(report: dict) -> dict:
    """Video-level metrics of one evaluation report, plus per-class accuracy at its threshold."""
    video, threshold = report["video"], report["meta"]["threshold"]
    videos = report.get("videos", [])
    root = report["meta"].get("root")
    scores = {"real": {}, "fake": {}}
    for i, v in enumerate(videos):
        scores["fake" if v["label"] == 1 else "real"][_video_key(v.get("path", i), root)] = v["prob"]
    reals, fakes = list(scores["real"].values()), list(scores["fake"].values())
    interval = auc_interval([0] * len(reals) + [1] * len(fakes), reals + fakes, level=CI_LEVEL)
    return {"n_real": video["n_real"], "n_fake": video["n_fake"], "threshold": threshold,
            **{k: video.get(k) for k in ("auc", "acc", "eer", "ap")},
            "auc_ci": list(interval) if interval else None,
            "real_acc": sum(p < threshold for p in reals) / len(reals) if reals else None,
            "fake_acc": sum(p >= threshold for p in fakes) / len(fakes) if fakes else None,
            "auc_by_config": auc_by_config(videos), "scores": scores}


def _video_key(path: str | int, root: str | None) -> str:
    """A video's name inside its dataset root, so that runs given the root as another path still pair up."""
    if root is not None and not isinstance(path, int):
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def paired_auc_difference(rows_a: Sequence[dict], rows_b: Sequence[dict], *, resamples: int = 2000,
                          seed: int = 0) -> dict | None:
    """Mean AUC of model a minus model b over the held-out methods both have, with a paired bootstrap interval.

    Both models were tested on the same videos, so each resample draws the real test videos and each held-out
    method's forgeries once and scores both models on that draw: the interval is that of the difference, far
    narrower than two separate intervals would suggest, and it says whether a ranking is more than the draw
    of the test set. None when the rows carry no per-video scores to pair.
    """
    a, b = _scores_by_cell(rows_a), _scores_by_cell(rows_b)
    cells = [h for h in a if h in b]
    runs = {h: [*a[h], *b[h]] for h in cells}
    reals = sorted(set.intersection(*(set(s["real"]) for h in cells for s in runs[h]))) if cells else []
    fakes = {h: sorted(set.intersection(*(set(s["fake"]) for s in runs[h]))) for h in cells}
    if not reals or not all(fakes.values()):
        return None
    rng = np.random.default_rng(seed)
    real_counts = bootstrap_counts(len(reals), resamples, rng)
    point, draws = 0.0, np.zeros(resamples)
    for held_out in cells:
        fake_counts = bootstrap_counts(len(fakes[held_out]), resamples, rng)
        for sign, seeds in ((1, a[held_out]), (-1, b[held_out])):
            per_seed, per_seed_draws = [], []
            for scores in seeds:
                r = [scores["real"][p] for p in reals]
                f = [scores["fake"][p] for p in fakes[held_out]]
                per_seed.append(float(roc_auc_score([0] * len(r) + [1] * len(f), r + f)))
                per_seed_draws.append(resampled_auc(r, f, real_counts, fake_counts))
            point += sign * float(np.mean(per_seed))
            draws += sign * _resample_seeds(np.stack(per_seed_draws), rng)
    tail = 50 * (1 - CI_LEVEL)
    return {"diff": point / len(cells), "lo": float(np.percentile(draws, tail)) / len(cells),
            "hi": float(np.percentile(draws, 100 - tail)) / len(cells), "held_out": cells,
            "seeds": max(len(side[h]) for side in (a, b) for h in cells)}


def _scores_by_cell(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """{held-out method: the per-video scores of each seed's run}; rows without scores (old tables) left out."""
    cells: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("scores"):
            cells.setdefault(row["held_out"], []).append(row["scores"])
    return cells


def _resample_seeds(draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(seeds, resamples) AUC draws -> (resamples,) the mean over seeds drawn with replacement in each resample.

    One seed: its draws as they are (and ``rng`` untouched, so one-seed tables keep their intervals).
    """
    if len(draws) == 1:
        return draws[0]
    picks = rng.integers(0, len(draws), size=(draws.shape[1], len(draws)))
    return draws[picks, np.arange(draws.shape[1])[:, None]].mean(axis=1)


def auc_by_config(videos: Sequence[dict]) -> dict[str, float]:
    """{configuration: AUC of its forgeries against every real video}; a video without one counts as "any"."""
    reals = [v["prob"] for v in videos if v["label"] == 0]
    configs = dict.fromkeys(v.get("config") or "any" for v in videos if v["label"] == 1)
    result = {}
    for config in configs if reals else ():
        fakes = [v["prob"] for v in videos if v["label"] == 1 and (v.get("config") or "any") == config]
        result[config] = float(roc_auc_score([0] * len(reals) + [1] * len(fakes), reals + fakes))
    return result


def seed_means(rows: Sequence[dict]) -> list[dict]:
    """One row per model and held-out method: its metrics averaged over the seeds it was trained with.

    ``seeds`` says over how many, ``auc_sd`` is the AUC's standard deviation over them (None with one
    seed, whose row is returned as it is, bootstrap interval included).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["held_out"]), []).append(row)
    cells = []
    for (model, held_out), group in groups.items():
        if len(group) == 1:
            cells.append({**group[0], "seeds": 1, "auc_sd": None})
            continue
        cells.append({"model": model, "held_out": held_out, "seeds": len(group),
                      **{key: _mean(r.get(key) for r in group) for key in (*METRICS, "n_real", "n_fake")},
                      "auc_sd": _sd(r.get("auc") for r in group),
                      "auc_by_config": _mean_by_key(r.get("auc_by_config") for r in group)})
    return cells


def mean_rows(rows: Sequence[dict]) -> list[dict]:
    """One ``held_out="mean"`` row per model (metrics averaged over its held-out methods, seeds averaged first).

    With several seeds, ``auc_sd`` is the standard deviation over the seeds of each seed's mean AUC.
    """
    cells, means = seed_means(rows), []
    for model in dict.fromkeys(r["model"] for r in cells):
        mine = [r for r in cells if r["model"] == model]
        row = {"model": model, "held_out": MEAN, **{key: _mean(r.get(key) for r in mine) for key in METRICS},
               "auc_by_config": _mean_by_key(r.get("auc_by_config") for r in mine),
               "seeds": max(r["seeds"] for r in mine)}
        by_seed: dict = {}
        for r in (r for r in rows if r["model"] == model and r.get("auc") is not None):
            by_seed.setdefault(r.get("seed"), []).append(r["auc"])
        row["auc_sd"] = _sd(np.mean(v) for v in by_seed.values()) if row["seeds"] > 1 else None
        means.append(row)
    return means


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _sd(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.std(present, ddof=1)) if len(present) > 1 else None


def _mean_by_key(dicts) -> dict[str, float]:
    """{key: mean over the dicts that have it}, e.g. AUC per generative configuration."""
    present = [d for d in dicts if d]
    return {k: _mean(d.get(k) for d in present) for k in dict.fromkeys(k for d in present for k in d)}


def goal_lines(table: dict, model: str | None = None, goals: dict[str, float] | None = None) -> list[str]:
    """One line per held-out method saying whether ``model`` meets each goal, and one against the baselines.

    ``model`` defaults to the first one benchmarked (``make detector`` lists its own model first).
    """
    model = model or (table.get("models") or ["tofnet"])[0]
    goals = goals or DETECTOR_GOALS
    lines = []
    for row in (r for r in seed_means(table["rows"]) if r["model"] == model):
        checks = [f"{key} {_num(row.get(key))}{_spread(row) if key == 'auc' else ''} "
                  f"({'ok' if _meets(row.get(key), goal) else f'goal >= {goal:.2f}'})" for key, goal in goals.items()]
        lines.append(f"{model}, held out {row['held_out']}: " + ", ".join(checks))
    means = {r["model"]: r["auc"] for r in mean_rows(table["rows"])}
    others = {m: a for m, a in means.items() if m != model and a is not None}
    if model in means and others:
        best = max(others, key=others.get)
        verdict = "above every baseline" if _meets(means[model], others[best] + 1e-12) else "NOT above every baseline"
        line = f"{model} mean AUC {_num(means[model])}: {verdict} (best baseline {best}: {_num(others[best])})"
        paired = paired_auc_difference([r for r in table["rows"] if r["model"] == model],
                                       [r for r in table["rows"] if r["model"] == best])
        if paired:
            line += (f"; paired difference {paired['diff']:+.3f}, {CI_LEVEL:.0%} CI {paired['lo']:+.3f} to "
                     f"{paired['hi']:+.3f}: {_significance(paired)}")
        lines.append(line)
    return lines


def difference_rows(table: dict, reference: str) -> list[dict]:
    """Each other model's mean AUC minus ``reference``'s, with the paired bootstrap interval."""
    mine = [r for r in table["rows"] if r["model"] == reference]
    rows = []
    for model in (m for m in table["models"] if m != reference):
        paired = paired_auc_difference([r for r in table["rows"] if r["model"] == model], mine)
        if paired:
            rows.append({"model": model, f"minus {reference}": paired["diff"], "ci_low": paired["lo"],
                         "ci_high": paired["hi"], "verdict": _significance(paired)})
    return rows


def _significance(paired: dict) -> str:
    noise = "the test set's noise" if paired.get("seeds", 1) == 1 else "the noise of the test set and the seeds"
    if paired["lo"] > 0:
        return f"higher beyond {noise}"
    if paired["hi"] < 0:
        return f"lower beyond {noise}"
    return f"within {noise}"


def _spread(row: dict) -> str:
    """A one-seed cell's bootstrap interval over the test videos, or a cell's spread over its seeds."""
    if row.get("seeds", 1) > 1:
        return f" ± {row['auc_sd']:.3f} over {row['seeds']} seeds" if row.get("auc_sd") is not None else ""
    ci = row.get("auc_ci")
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""


def _meets(value: float | None, goal: float) -> bool:
    return value is not None and value >= goal


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def benchmark_markdown(table: dict) -> str:
    rows, held_out = table["rows"], table["held_out"]
    seeds = len(table.get("seeds") or [None])
    cells, means = seed_means(rows), {r["model"]: r for r in mean_rows(rows)}
    auc = []
    for model in table["models"]:
        mean = means.get(model, {})
        auc.append({"model": model, **{r["held_out"]: f"{_num(r['auc'])}{_spread(r)}" for r in cells
                                      if r["model"] == model},
                    MEAN: f"{_num(mean.get('auc'))}{_spread(mean)}" if mean else None})
    reference = table["models"][0] if table["models"] else None
    differences = difference_rows(table, reference) if reference else []
    columns = ("model", "held_out", *(("seed",) if seeds > 1 else ()), "auc", "acc", "eer", "ap", "real_acc",
               "fake_acc", "n_real", "n_fake")
    configs = list(dict.fromkeys(c for r in rows for c in r.get("auc_by_config") or {}))
    by_config = [{"model": r["model"], "held_out": r["held_out"], **(r.get("auc_by_config") or {})}
                 for r in [*cells, *means.values()]]
    spread = (f"its mean ± standard deviation over {seeds} training seeds" if seeds > 1 else
              f"its {CI_LEVEL:.0%} bootstrap interval over the test videos")
    paired = ("paired bootstrap over the same test videos and over the seeds" if seeds > 1 else
              "paired bootstrap over the same test videos")
    return "\n".join([
        f"# Benchmark: {table['protocol']}", "",
        f"Video-level AUC, model x held-out method (each model trained without that method), with {spread}:", "",
        markdown_table(auc, ["model", *held_out, MEAN]),
        *([f"Mean AUC against {reference}'s, {paired} ({CI_LEVEL:.0%} interval; "
           "an interval that holds 0 means the two cannot be told apart on this test set):", "",
           markdown_table(differences, ["model", f"minus {reference}", "ci_low", "ci_high", "verdict"])]
          if differences else []),
        "All metrics (ACC, real_acc = real videos scored real, fake_acc = forgeries scored forged, "
        f"all at the threshold {table.get('threshold', 'picked on validation at the equal-error point')}"
        f"{'; one row per seed, the mean rows over all' if seeds > 1 else ''}):", "",
        markdown_table([*rows, *means.values()], columns),
        "Video-level AUC by generative configuration (the held-out method's forgeries of one configuration "
        "against all real test videos):", "",
        markdown_table(by_config, ["model", "held_out", *configs]),
        "![AUC per held-out method](benchmark.png)", ""])


def write_benchmark(table: dict, out: str | Path) -> dict[str, Path]:
    """``benchmark.json``, ``benchmark.md`` and ``benchmark.png`` in ``out``, each written atomically."""
    out = Path(out)
    paths = {"json": out / "benchmark.json", "markdown": out / "benchmark.md", "png": out / "benchmark.png"}
    atomic_write_text(paths["json"], json.dumps(table, indent=2) + "\n")
    atomic_write_text(paths["markdown"], benchmark_markdown(table))
    _write_bars(table, paths["png"])
    return paths


def _write_bars(table: dict, target: Path) -> None:
    groups = [*table["held_out"], MEAN]
    rows = [*seed_means(table["rows"]), *mean_rows(table["rows"])]
    models = table["models"]
    fig = Figure(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(models)) / 3), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        mine = {r["held_out"]: r for r in rows if r["model"] == model}
        xs = [g + (i - (len(models) - 1) / 2) * width for g in range(len(groups))]
        spread = [mine.get(g, {}).get("auc_sd") or 0.0 for g in groups]  # over seeds; 0 with one seed
        ax.bar(xs, [mine.get(g, {}).get("auc") or 0.0 for g in groups], width, label=model,
               yerr=spread if any(spread) else None, capsize=2)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set(ylim=(0, 1.0), ylabel="video-level AUC", title="Held-out method AUC")
    ax.legend(fontsize="small", ncol=2, loc="lower right")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
