"""``ttdf synth``: layout, manifest, determinism, resume, splits and the artefacts' temporal signatures."""
from __future__ import annotations

import argparse
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from ttdf import synth_render as sr
from ttdf.cli import synth as synth_cli
from ttdf.cli.options import run_command
from ttdf.errors import TTDFError
from ttdf.fsutil import sha256_file
from ttdf.manifest import read_manifest
from ttdf.records import relative_path
from ttdf.synth import ARTEFACTS, SynthConfig, build_scene, render_video, source_splits, synthesize
from ttdf.taxonomy import load_taxonomy
from ttdf.video import iter_frames

TAXONOMY = load_taxonomy()
SMALL = SynthConfig(sources=3, frames=6, methods=("magicanimate",), configs=("match",))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, SynthConfig, list]:
    """Six sources (two per split, so every split has mismatch fakes), all methods and configs."""
    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(sources=6, frames=8)
    return root, config, synthesize(root, config, progress=False)


@pytest.fixture(scope="module")
def signatures(tmp_path_factory) -> dict[str, dict[str, float]]:
    """Temporal statistics of decoded videos averaged per class ("real" or method), self-reenactment only."""
    root = tmp_path_factory.mktemp("signatures")
    config = SynthConfig(sources=3, frames=20, configs=("match",))
    stats: dict[str, list[dict[str, float]]] = {}
    for record in synthesize(root, config, progress=False):
        identity = int(record.identity_id[3:])
        gray = np.stack([f.astype(np.float32).mean(-1) for f in iter_frames(root / record.path)])
        person, extremities = _masks(config, identity)
        stats.setdefault(record.method or "real", []).append(_temporal_stats(gray, person, extremities))
    return {name: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} for name, rows in stats.items()}


def _masks(config: SynthConfig, identity: int) -> tuple[np.ndarray, np.ndarray]:
    """Dilated person masks and discs around hands/feet, from the real video's geometry."""
    kernel = np.ones((9, 9), np.uint8)
    alphas = [a for _, a in render_video(config, identity, identity)]
    person = np.stack([cv2.dilate((a > 0).astype(np.uint8), kernel) for a in alphas])
    app, track = build_scene(config, identity, identity)
    points = sr.keypoints(app, track)
    centre = np.array([config.width / 2, config.height / 2])
    cams = centre + track.camera[:, :2] * config.height
    extremities = np.zeros_like(person)
    for name in ("tip_l", "tip_r", "toe_l", "toe_r"):
        for t in range(config.frames):
            x, y = (points[name][t] - cams[t]) * track.camera[t, 2] + centre
            cv2.circle(extremities[t], (int(round(x)), int(round(y))), 4, 1, -1)
    return person.astype(bool), extremities.astype(bool)


def _temporal_stats(gray: np.ndarray, person: np.ndarray, extremities: np.ndarray) -> dict[str, float]:
    background = ~(person[1:] | person[:-1])
    frames8 = [np.clip(g, 0, 255).astype(np.uint8) for g in gray]
    flow = np.stack([cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
                     for a, b in zip(frames8, frames8[1:])])
    acceleration = np.linalg.norm(np.diff(flow, axis=0), axis=-1)
    laplacian = np.stack([np.abs(cv2.Laplacian(g, cv2.CV_32F)) for g in gray])
    return dict(
        flicker=float(np.abs(np.diff(gray.mean(axis=(1, 2)), 2)).mean()),     # global brightness jumps
        background_energy=float(np.abs(np.diff(gray, axis=0))[background].mean()),
        motion_jitter=float(acceleration[person[1:-1]].mean()),              # flow changes inside the body
        extremity_sharpness=float(laplacian[extremities].mean()),
    )


def _others(signatures: dict, name: str) -> list[tuple[str, dict]]:
    return [(k, v) for k, v in signatures.items() if k != name]


# --------------------------------------------------------------------------- layout and manifest


def test_layout_manifest_and_counts(dataset):
    root, config, records = dataset
    manifest = read_manifest(root / TAXONOMY.layout.manifest)
    assert sorted(manifest, key=lambda r: r.path) == sorted(records, key=lambda r: r.path)
    for record in records:
        path = root / record.path
        assert record.path == relative_path(TAXONOMY, label=record.label, split=record.split, compression="raw",
                                            identity_id=record.identity_id, pose_id=record.pose_id,
                                            method=record.method, config=record.config)
        assert (record.frames, record.fps, record.width, record.height) == (8, 15.0, 96, 128)
        assert record.sha256 == sha256_file(path)
    assert Counter(r.label for r in records) == {"real": 6, "fake": 6 * 3 * 2}
    groups = Counter((r.method, r.config) for r in records if r.is_fake)
    assert groups == {(m, c): 6 for m in TAXONOMY.methods_of("paper") for c in TAXONOMY.configs}
    assert {r.identity_id for r in records if not r.is_fake} == {f"src{i:03d}" for i in range(6)}
    frame = next(iter_frames(root / records[0].path))
    assert frame.shape == (128, 96, 3)


def test_splits_are_disjoint_by_source_and_cross_stays_in_split(dataset):
    _, config, records = dataset
    split_of = {r.identity_id: r.split for r in records if not r.is_fake}
    assert Counter(split_of.values()) == {"train": 2, "val": 2, "test": 2}
    for record in records:  # every video of a source (as identity or pose) lives in that source's split
        assert record.split == split_of[record.identity_id] == split_of[record.pose_id]
    for record in records:
        if record.config == "mismatch":
            assert record.identity_id != record.pose_id
        elif record.is_fake:
            assert record.identity_id == record.pose_id
    default = source_splits(SynthConfig())
    assert Counter(default) == {"train": 5, "val": 2, "test": 2}
    assert sorted(source_splits(SynthConfig(sources=3))) == ["test", "train", "val"]  # one source each


def test_lone_source_in_split_gets_no_cross_fake(tmp_path):
    records = synthesize(tmp_path, SynthConfig(sources=3, frames=4, methods=("magicdance",)), progress=False)
    assert Counter(r.config for r in records if r.is_fake) == {"match": 3}  # 1 source per split: no partner


def test_no_trivial_brightness_cue(dataset):
    root, _, records = dataset
    means = {"real": [], "fake": []}
    for record in records:
        means[record.label].append(np.mean([f.mean() for f in iter_frames(root / record.path)]))
    real, fake = np.array(means["real"]), np.array(means["fake"])
    assert max(real.min(), fake.min()) < min(real.max(), fake.max())  # the ranges overlap
    assert abs(np.median(real) - np.median(fake)) < 0.25 * real.std()


def test_same_config_without_artefacts_matches_the_real_video():
    config = SynthConfig(sources=3, frames=6, artifact_strength=0.0)
    for method in TAXONOMY.methods_of("paper"):
        real = np.stack([f for f, _ in render_video(config, 1, 1)]).astype(np.float32)
        fake = np.stack([f for f, _ in render_video(config, 1, 1, method, "match")]).astype(np.float32)
        assert np.abs(real - fake).mean() < 2.0  # only independent sensor noise differs
    strong = SynthConfig(sources=3, frames=6)
    fake = np.stack([f for f, _ in render_video(strong, 1, 1, "magicdance", "match")]).astype(np.float32)
    assert np.abs(real - fake).max() > 40  # with artefacts, limbs are elsewhere


# --------------------------------------------------------------------------- determinism and resume


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    first = synthesize(tmp_path / "a", SMALL, progress=False)
    again = synthesize(tmp_path / "b", SMALL, progress=False)
    other = synthesize(tmp_path / "c", replace(SMALL, seed=1), progress=False)
    assert [r.sha256 for r in first] == [r.sha256 for r in again]
    assert len(other) == len(first)
    assert not {r.sha256 for r in first} & {r.sha256 for r in other}


def test_process_pool_gives_the_same_bytes(tmp_path):
    config = SynthConfig(sources=3, frames=4, methods=("animateanyone",), configs=("match",))
    serial = synthesize(tmp_path / "serial", config, progress=False)
    parallel = synthesize(tmp_path / "parallel", config, workers=2, progress=False)
    assert [(r.path, r.sha256) for r in serial] == [(r.path, r.sha256) for r in parallel]


def test_rerun_resumes_only_missing_videos(tmp_path):
    records = synthesize(tmp_path, SMALL, progress=False)
    victim = tmp_path / records[1].path
    victim.unlink()
    (tmp_path / "manifest.csv").unlink()
    before = {r.path: os.stat(tmp_path / r.path).st_mtime_ns for r in records if r.path != records[1].path}
    again = synthesize(tmp_path, SMALL, progress=False)
    assert again == records
    assert victim.exists() and sha256_file(victim) == records[1].sha256
    assert {p: os.stat(tmp_path / p).st_mtime_ns for p in before} == before
    by_path = lambda rows: sorted(rows, key=lambda r: r.path)  # noqa: E731
    assert by_path(read_manifest(tmp_path / "manifest.csv")) == by_path(records)


def test_rerun_with_other_content_options_is_refused(tmp_path):
    synthesize(tmp_path, SMALL, progress=False)
    with pytest.raises(TTDFError, match="frames was 6, now 7"):
        synthesize(tmp_path, replace(SMALL, frames=7), progress=False)
    # choosing other methods/configs only adds videos; earlier rows stay in the manifest
    synthesize(tmp_path, replace(SMALL, methods=("magicdance",)), progress=False)
    methods = {r.method for r in read_manifest(tmp_path / "manifest.csv")}
    assert methods == {None, "magicanimate", "magicdance"}


def test_method_without_artefact_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delitem(ARTEFACTS, "magicdance")
    with pytest.raises(TTDFError, match="'magicdance' has no registered artefact"):
        synthesize(tmp_path, SynthConfig(sources=3, frames=4), progress=False)
    with pytest.raises(TTDFError, match="size 128x95"):
        SynthConfig(width=95, methods=("magicanimate",)).validate(TAXONOMY)


# --------------------------------------------------------------------------- artefacts


def test_magicanimate_flickers_and_wobbles_the_background(signatures):
    ma = signatures["magicanimate"]
    for name, other in _others(signatures, "magicanimate"):
        assert ma["flicker"] > 3 * other["flicker"], name
        assert ma["background_energy"] > 1.2 * other["background_energy"], name


def test_magicdance_trembles(signatures):
    md = signatures["magicdance"]
    for name, other in _others(signatures, "magicdance"):
        assert md["motion_jitter"] > 2 * other["motion_jitter"], name


def test_animateanyone_smears_extremities(signatures):
    aa = signatures["animateanyone"]
    for name, other in _others(signatures, "animateanyone"):
        assert aa["extremity_sharpness"] < 0.75 * other["extremity_sharpness"], name


def test_animateanyone_texture_slides_smoothly_while_others_boil():
    """Sliding is a smooth offset of the texture relative to its limb; re-rendering noise is white."""
    config = SynthConfig(sources=3, frames=24)

    def lag1(method: str) -> float:
        values = []
        for source in range(3):
            shift = build_scene(config, source, source, method, "match")[1].tex_shift
            centred = shift - shift.mean(axis=0)
            values.append((centred[1:] * centred[:-1]).sum() / (centred ** 2).sum())
        return float(np.mean(values))

    assert lag1("animateanyone") > 0.5
    assert abs(lag1("magicdance")) < 0.2 and abs(lag1("magicanimate")) < 0.2


def test_real_motion_is_smooth_and_magicdance_motion_is_not():
    """Low-frequency dance: third differences stay below second ones; white jitter reverses that."""
    config = SynthConfig(sources=4, frames=32)

    def roughness(source: int, method: str | None) -> float:
        app, track = build_scene(config, source, source, method, "match")
        points = np.stack(list(sr.keypoints(app, track).values()), axis=1)
        assert (points[..., 1] < config.height).all()  # feet stay above the bottom edge
        return float(np.abs(np.diff(points, 3, axis=0)).mean() / np.abs(np.diff(points, 2, axis=0)).mean())

    for source in range(4):
        assert roughness(source, None) < 1.0
        assert roughness(source, "magicanimate") == roughness(source, None)  # its artefacts are not in the pose
        assert roughness(source, "magicdance") > 1.5


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf")
    synth_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_parses_options_into_a_config():
    args = _parser().parse_args(["synth", "--root", "x", "--sources", "4", "--frames", "10", "--fps", "12.5",
                                 "--size", "64x80", "--seed", "3", "--methods", "magicdance",
                                 "--configs", "match", "--artifact-strength", "0.5", "--workers", "2"])
    assert synth_cli.config_from_args(args) == SynthConfig(
        sources=4, frames=10, fps=12.5, width=80, height=64, seed=3, methods=("magicdance",), configs=("match",),
        artifact_strength=0.5)
    assert args.workers == 2 and args.root == Path("x")
    assert _parser().parse_args(["synth"]).workers == 1


@pytest.mark.parametrize("size", ["95x128", "96", "axb", "8x8"])
def test_cli_rejects_bad_size(size, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["synth", "--size", size])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "HEIGHTxWIDTH" in err


def test_cli_runs_and_summarises(tmp_path, capsys):
    argv = ["synth", "--root", str(tmp_path), "--sources", "3", "--frames", "4", "--size", "48x64",
            "--methods", "magicanimate", "--no-progress"]
    assert run_command(_parser(), argv) == 0
    out = capsys.readouterr().out
    assert "6 videos written, 0 already there" in out and str(tmp_path / "manifest.csv") in out
    assert "no mismatch fakes" in out
    assert run_command(_parser(), argv) == 0
    assert "0 videos written, 6 already there" in capsys.readouterr().out
    assert run_command(_parser(), argv[:-1] + ["--seed", "9", "--no-progress"]) == 2
    assert "seed was 0, now 9" in capsys.readouterr().err
