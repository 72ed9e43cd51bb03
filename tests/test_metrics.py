from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from tofnet.metrics import ClipPrediction, aggregate_videos, binary_metrics, equal_error_rate
from ttdf.errors import TTDFError


def _clip(path, label, prob, clip=0, method=None, config=None, compression="raw"):
    return ClipPrediction(path=path, label=label, prob=prob, clip=clip, method=method, config=config,
                          compression=compression)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=200)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    result = binary_metrics(labels.tolist(), scores.tolist())
    assert result["n"] == 200
    assert result["n_fake"] == int(labels.sum())
    assert result["n_real"] == 200 - int(labels.sum())
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert result["acc"] == pytest.approx(accuracy_score(labels, scores >= 0.5))
    assert 0.0 < result["eer"] < 0.5


def test_threshold_moves_accuracy_only():
    labels, scores = [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]
    at_half = binary_metrics(labels, scores)
    at_low = binary_metrics(labels, scores, threshold=0.3)
    assert at_half["acc"] == 0.5
    assert at_low["acc"] == 0.75  # 0.6 -> fake (wrong), 0.4 and 0.9 -> fake (right), 0.1 -> real
    assert at_half["auc"] == at_low["auc"] == 0.75


def test_score_equal_to_threshold_counts_as_fake():
    assert binary_metrics([1, 0], [0.5, 0.49])["acc"] == 1.0


def test_eer_perfect_separation_is_zero():
    assert equal_error_rate([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9]) == 0.0


def test_eer_fully_inverted_is_one():
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_eer_random_scores_near_half():
    rng = np.random.default_rng(123)
    labels = rng.integers(0, 2, size=20000)
    scores = rng.random(20000)
    assert equal_error_rate(labels, scores) == pytest.approx(0.5, abs=0.02)


def test_eer_hand_checked_cases():
    # One of three reals scores above the only fake: any threshold admitting the fake also admits
    # that real, so FPR = FNR only at FPR = 1/3.
    assert equal_error_rate([0, 0, 0, 1], [0.1, 0.2, 0.8, 0.7]) == pytest.approx(1 / 3)
    # A tie: the ROC is the diagonal from (0, 0) to (1, 1); FPR = FNR = 0.5 halfway along it.
    assert equal_error_rate([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # Reals 0.1, 0.6; fakes 0.4, 0.9: at threshold 0.6 one real passes and one fake is missed.
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)


def test_eer_needs_both_classes():
    with pytest.raises(ValueError):
        equal_error_rate([1, 1], [0.2, 0.3])


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0]])
def test_one_class_gives_none_and_is_json_safe(labels):
    scores = [0.7, 0.2, 0.9][: len(labels)]
    result = binary_metrics(labels, scores)
    assert result["auc"] is None and result["eer"] is None and result["ap"] is None
    assert result["acc"] is not None
    assert json.loads(json.dumps(result)) == result


def test_empty_input():
    result = binary_metrics([], [])
    assert result["n"] == 0 and result["acc"] is None
    json.dumps(result)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(TTDFError):
        binary_metrics([0, 1], [0.5, float("nan")])


def test_values_are_plain_python_types():
    result = binary_metrics(np.array([0, 1, 1]), np.array([0.2, 0.8, 0.4], dtype=np.float32))
    for key, value in result.items():
        assert type(value) in (int, float), key


def test_aggregate_videos_means_per_video_sorted_by_path():
    clips = [
        _clip("fake/b.mp4", 1, 0.9, 0, "magicanimate", "match"),
        _clip("real/a.mp4", 0, 0.2, 0),
        _clip("fake/b.mp4", 1, 0.5, 1, "magicanimate", "match"),
        _clip("real/a.mp4", 0, 0.4, 1),
        _clip("real/a.mp4", 0, 0.3, 2),
        _clip("fake/c.mp4", 1, 0.6, 0, "magicdance", "mismatch", "c40"),
    ]
    videos = aggregate_videos(clips)
    assert [v.path for v in videos] == ["fake/b.mp4", "fake/c.mp4", "real/a.mp4"]
    assert [v.n_clips for v in videos] == [2, 1, 3]
    assert [v.prob for v in videos] == pytest.approx([0.7, 0.6, 0.3])
    assert (videos[0].label, videos[0].method, videos[0].config, videos[0].compression) == (1, "magicanimate", "match", "raw")
    assert (videos[1].method, videos[1].compression) == ("magicdance", "c40")
    assert videos[2].label == 0 and videos[2].method is None


def test_aggregate_videos_refuses_inconsistent_clips():
    clips = [_clip("x.mp4", 1, 0.9, 0, "magicanimate", "match"), _clip("x.mp4", 0, 0.1, 1)]
    with pytest.raises(TTDFError, match="x.mp4"):
        aggregate_videos(clips)


def test_eer_threshold_separates_scores_that_rank_well_but_sit_below_one_half():
    from tofnet.metrics import eer_threshold
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.05, 0.10, 0.12, 0.20, 0.30, 0.40]  # AUC 1, but every score < 0.5
    threshold = eer_threshold(labels, scores)
    assert 0.12 < threshold <= 0.20
    assert binary_metrics(labels, scores, threshold=threshold)["acc"] == 1.0
    assert binary_metrics(labels, scores)["acc"] == 0.5
    with pytest.raises(ValueError):
        eer_threshold([1, 1], [0.2, 0.3])


def test_resampled_auc_is_the_auc_of_each_bootstrap_draw():
    from tofnet.metrics import auc_interval, bootstrap_counts, resampled_auc

    rng = np.random.default_rng(1)
    reals, fakes = rng.normal(0, 1, 30).round(1), rng.normal(0.8, 1, 20).round(1)  # rounded: ties count half
    ones = (np.ones((1, 30)), np.ones((1, 20)))
    full = roc_auc_score([0] * 30 + [1] * 20, np.r_[reals, fakes])
    assert resampled_auc(reals, fakes, *ones)[0] == pytest.approx(full)
    real_counts, fake_counts = bootstrap_counts(30, 5, rng), bootstrap_counts(20, 5, rng)
    assert (real_counts.sum(1) == 30).all() and (fake_counts.sum(1) == 20).all()
    for b, auc in enumerate(resampled_auc(reals, fakes, real_counts, fake_counts)):
        r, f = np.repeat(reals, real_counts[b].astype(int)), np.repeat(fakes, fake_counts[b].astype(int))
        assert auc == pytest.approx(roc_auc_score([0] * len(r) + [1] * len(f), np.r_[r, f]))
    low, high = auc_interval([0] * 30 + [1] * 20, np.r_[reals, fakes])
    assert low < full < high
    narrow = auc_interval([0] * 300 + [1] * 200, np.r_[np.tile(reals, 10), np.tile(fakes, 10)])
    assert high - low > 2 * (narrow[1] - narrow[0])  # ten times the videos: about a third of the width
    assert auc_interval([0, 0, 1], [0.1, 0.2, 0.9]) == (1.0, 1.0)
    assert auc_interval([1, 1], [0.1, 0.2]) is None
