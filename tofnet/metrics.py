"""Binary detection metrics and clip-to-video aggregation.

Labels follow the dataset convention ``1 = fake``; scores are ``P(fake)``. Every value returned
is a plain Python number or ``None`` so that reports serialise to JSON as they are: a metric that
needs both classes (AUC, EER, AP) is ``None`` when a group holds only one, never ``NaN``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score, roc_curve

from ttdf.errors import TTDFError


@dataclass(frozen=True)
class ClipPrediction:
    """The detector's output for one clip (a window of frames) of one video."""

    path: str
    label: int
    prob: float
    clip: int
    method: str | None
    config: str | None
    compression: str
    split: str | None = None


@dataclass(frozen=True)
class VideoPrediction:
    """A video's score: the mean of its clip probabilities."""

    path: str
    label: int
    prob: float
    n_clips: int
    method: str | None
    config: str | None
    compression: str


def binary_metrics(labels: Sequence[int], scores: Sequence[float], *, threshold: float = 0.5) -> dict:
    """Counts, accuracy (``score >= threshold`` means fake), AUC, EER and AP of one set of predictions."""
    y, s = _check_inputs(labels, scores)
    n_fake = int(y.sum())
    result: dict = {"n": int(y.size), "n_real": int(y.size) - n_fake, "n_fake": n_fake,
                    "acc": None, "auc": None, "eer": None, "ap": None}
    if y.size == 0:
        return result
    result["acc"] = float(accuracy_score(y, (s >= threshold).astype(int)))
    if 0 < n_fake < y.size:
        result["auc"] = float(roc_auc_score(y, s))
        result["eer"] = equal_error_rate(y, s)
        result["ap"] = float(average_precision_score(y, s))
    return result


def equal_error_rate(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The error rate where false-positive and false-negative rates are equal.

    The ROC is piecewise linear between sklearn's operating points, so the crossing of FPR and
    FNR is interpolated on the segment where ``FNR - FPR`` changes sign.
    """
    y, s = _check_inputs(labels, scores)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("the equal error rate needs both real (0) and fake (1) labels")
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    diff = fnr - fpr  # 1 at the first point, -1 at the last: it changes sign at least once
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0 or i == 0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def eer_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The score threshold at the ROC point nearest to equal error rates (picked on validation data).

    A model trained on a few epochs ranks well long before its probabilities are calibrated, so
    accuracy at a fixed 0.5 can be poor while AUC is high; this threshold travels with the checkpoint.
    """
    y, s = _check_inputs(labels, scores)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("an EER threshold needs both real (0) and fake (1) labels")
    fpr, tpr, thresholds = roc_curve(y, s)
    i = int(np.argmin(np.abs((1.0 - tpr) - fpr)))
    return float(np.clip(thresholds[i], 0.0, 1.0))


def bootstrap_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) how often each of ``n`` items is drawn in each bootstrap resample (n draws with replacement)."""
    draws = rng.integers(0, n, size=(resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)


def resampled_auc(reals: Sequence[float], fakes: Sequence[float], real_counts: np.ndarray,
                  fake_counts: np.ndarray) -> np.ndarray:
    """AUC of each resample given by :func:`bootstrap_counts` of the real and of the fake scores.

    AUC is P(fake scores above real) with ties counted half (Mann-Whitney), so a resample's AUC is the
    count-weighted mean of the pairwise comparison matrix: no ROC curve per resample.
    """
    r, f = np.asarray(reals, float), np.asarray(fakes, float)
    wins = (f[:, None] > r[None, :]) + 0.5 * (f[:, None] == r[None, :])
    return np.einsum("bf,fr,br->b", fake_counts, wins, real_counts) / (len(f) * len(r))


def auc_interval(labels: Sequence[int], scores: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the AUC, reals and fakes resampled apart (None without both classes).

    A held-out cell of a few dozen videos has an AUC that moves by 0.1 or more with the draw of its test
    videos; the interval says how much a difference between two cells can mean.
    """
    y, s = _check_inputs(labels, scores)
    if y.size == 0 or y.min() == y.max():
        return None
    rng = np.random.default_rng(seed)
    reals, fakes = s[y == 0], s[y == 1]
    aucs = resampled_auc(reals, fakes, bootstrap_counts(len(reals), resamples, rng),
                         bootstrap_counts(len(fakes), resamples, rng))
    tail = 50 * (1 - level)
    return float(np.percentile(aucs, tail)), float(np.percentile(aucs, 100 - tail))


def aggregate_videos(clips: Sequence[ClipPrediction]) -> list[VideoPrediction]:
    """One prediction per video (mean clip probability), sorted by path."""
    by_path: dict[str, list[ClipPrediction]] = {}
    for clip in clips:
        by_path.setdefault(clip.path, []).append(clip)
    videos = []
    for path in sorted(by_path):
        group = by_path[path]
        first = group[0]
        identity = (first.label, first.method, first.config, first.compression)
        for other in group[1:]:
            if (other.label, other.method, other.config, other.compression) != identity:
                raise TTDFError(f"{path}: clips disagree on label/method/config/compression "
                                f"({identity} vs {(other.label, other.method, other.config, other.compression)}); "
                                "predictions from different runs were probably mixed, regenerate them")
        prob = float(np.mean([c.prob for c in group]))
        videos.append(VideoPrediction(path=path, label=int(first.label), prob=prob, n_clips=len(group),
                                      method=first.method, config=first.config, compression=first.compression))
    return videos


def _check_inputs(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if y.size != s.size:
        raise ValueError(f"got {y.size} labels but {s.size} scores")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise TTDFError("scores contain NaN or infinity; the model diverged or its checkpoint is corrupt, "
                        "retrain or reload it")
    return y.astype(int), s
