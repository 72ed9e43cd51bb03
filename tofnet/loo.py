"""Generalisation protocols: train on some forgeries, test on ones the model never saw.

- leave-one-method-out: for each forgery method, train on the others, test on it;
- held-out configuration: train on one generative configuration, test on the other;
- train raw, test compressed: train on raw videos, test on each compression level.
Every run lives in its own folder under ``out``; ``summary.md``/``summary.json`` hold the tables.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from tofnet.calibrate import calibrate_on_validation
from tofnet.evaluate import EvalOptions, evaluate_checkpoint
from tofnet.report import summary_table
from tofnet.train import TrainConfig, eval_options, train
from ttdf.fsutil import atomic_write_text
from ttdf.index import VideoIndex
from ttdf.records import VideoFilter
from ttdf.taxonomy import load_taxonomy

PROTOCOLS = ("method", "config", "compression")


def _train_cell(base: TrainConfig, name: str, **changes) -> Path:
    """Train one protocol cell; returns its best checkpoint.

    Always resumes: a finished cell is not retrained, an interrupted one continues where it stopped; a cell
    trained with other settings is refused (``--overwrite`` retrains it).
    """
    config = replace(base, out=str(Path(base.out) / name), resume=True, **changes)
    train(config)
    return Path(config.out) / "best"


def _evaluate_cell(base: TrainConfig, checkpoint: Path, test_filter: VideoFilter, *, eval_name: str,
                   title: str, false_alarm_rate: float | None = None) -> dict:
    """Evaluate one cell at its saved threshold or, with ``false_alarm_rate``, at the one calibrated on the real
    videos of the validation split (:mod:`tofnet.calibrate`; the checkpoint itself is left as trained)."""
    options = eval_options(base)
    calibration = None
    if false_alarm_rate is not None:
        calibration = calibrate_on_validation(checkpoint, base, false_alarm_rate, write=False)
        options = replace(options, threshold=calibration["threshold"])
    report = evaluate_checkpoint(checkpoint, base.root, test_filter, out_dir=checkpoint.parent / eval_name,
                                 options=options, title=title, flow_weights=base.data.flow_kwargs.get("weights"))
    if calibration is not None:
        report["meta"]["calibration"] = calibration
    return report


def _run(base: TrainConfig, name: str, test_filter: VideoFilter, *, title: str,
         false_alarm_rate: float | None = None, **changes) -> dict:
    """Train one protocol cell and evaluate its best checkpoint on one test selection."""
    return _evaluate_cell(base, _train_cell(base, name, **changes), test_filter, eval_name="eval", title=title,
                          false_alarm_rate=false_alarm_rate)


def leave_one_method_out(base: TrainConfig, methods: tuple[str, ...] = (), *,
                         false_alarm_rate: float | None = None) -> dict[str, dict]:
    """Per method, a cell trained without it and tested on it; ``false_alarm_rate``: each cell's threshold
    calibrated on the validation split's real videos (else the one training saved)."""
    methods = methods or _methods_with_videos(base)
    results = {}
    for method in methods:
        test = VideoFilter(methods=(method,), configs=base.configs, compressions=base.compressions, splits=("test",))
        results[method] = _run(base, f"method-{method}", test, title=f"Held-out method: {method}",
                               false_alarm_rate=false_alarm_rate, holdout_methods=(method,),
                               train_methods=tuple(m for m in methods if m != method))
    return results


def _methods_with_videos(base: TrainConfig) -> tuple[str, ...]:
    """The chosen methods that have fakes in the root: the taxonomy also lists ones a root may lack (forge)."""
    with VideoIndex.open(base.root) as index:
        present = {v.record.method for v in index.query(VideoFilter(labels=("fake",)))}
    return tuple(m for m in base.methods() if m in present)


def held_out_config(base: TrainConfig) -> dict[str, dict]:
    configs = base.configs or load_taxonomy(root=base.root).configs
    results = {}
    for test_config in configs:
        train_configs = tuple(c for c in configs if c != test_config)
        test = VideoFilter(methods=base.methods(), configs=(test_config,), compressions=base.compressions,
                           splits=("test",))
        results[f"{'+'.join(train_configs)} -> {test_config}"] = _run(
            base, f"config-{test_config}", test, title=f"Held-out configuration: {test_config}", configs=train_configs)
    return results


def train_raw_test_compressed(base: TrainConfig, compressions: tuple[str, ...] = ()) -> dict[str, dict]:
    compressions = compressions or tuple(c for c in load_taxonomy(root=base.root).compressions if c != "raw")
    checkpoint = _train_cell(base, "compression-raw", compressions=("raw",))  # one model, several test sets
    results = {}
    for compression in ("raw", *compressions):
        test = VideoFilter(methods=base.methods(), configs=base.configs, compressions=(compression,),
                           splits=("test",))
        results[f"raw -> {compression}"] = _evaluate_cell(base, checkpoint, test, eval_name=f"eval-{compression}",
                                                          title=f"Train raw, test {compression}")
    return results


def run_protocols(base: TrainConfig, protocols: tuple[str, ...] = PROTOCOLS) -> str:
    """Run the chosen protocols and write ``summary.md`` and ``summary.json``; returns the Markdown."""
    runners = {"method": (leave_one_method_out, "held-out method"),
               "config": (held_out_config, "held-out configuration"),
               "compression": (train_raw_test_compressed, "train raw / test")}
    sections, payload = [], {}
    for protocol in protocols:
        runner, column = runners[protocol]
        results = runner(base)
        payload[protocol] = {name: {"video": r["video"], "clip": r["clip"]} for name, r in results.items()}
        sections.append(f"## {column}\n\n{summary_table(results, title_column=column)}\n")
    markdown = f"# TOF-Net generalisation ({base.model})\n\n" + "\n".join(sections)
    out = Path(base.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.md", markdown)
    atomic_write_text(out / "summary.json", json.dumps(payload, indent=2))
    return markdown
