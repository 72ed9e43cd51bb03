"""ttdf download: allow-patterns, a monkeypatched hub transfer, verification, dry run, offline errors."""
from __future__ import annotations

import argparse
import fnmatch
import shutil
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile, RepoFolder

import ttdf.download
from tests.tiny_dataset import write_tiny_dataset
from ttdf.cli import download as cli_download
from ttdf.cli.options import run_command
from ttdf.download import download_dataset, plan_download, resolve_hub
from ttdf.errors import DownloadError
from ttdf.index import VideoIndex
from ttdf.records import VideoFilter


def test_plan_for_one_method_config_compression():
    filt = VideoFilter(methods=("magicanimate",), configs=("mismatch",), compressions=("c23",))
    assert plan_download(filt) == ["manifest.csv", "real/c23/*/*", "fake/magicanimate/mismatch/c23/*/*",
                                  "fake/magicanimate/cross/c23/*/*"]  # a mirror laid out before the rename


def test_plan_labels_and_products():
    assert plan_download(VideoFilter()) == ["manifest.csv", "real/*/*/*", "fake/*/*/*/*/*"]
    assert plan_download(VideoFilter(labels=("fake",))) == ["manifest.csv", "fake/*/*/*/*/*"]
    assert plan_download(VideoFilter(labels=("real",), methods=("magicdance",), splits=("test",))) == [
        "manifest.csv", "real/*/test/*"]
    assert plan_download(VideoFilter(labels=("fake",), compressions=("c23", "c40"), splits=("test",))) == [
        "manifest.csv", "fake/*/*/c23/test/*", "fake/*/*/c40/test/*"]


def test_hub_defaults_and_overrides(monkeypatch):
    assert resolve_hub() == ("HashTAG00002/TT-DF", "main")
    monkeypatch.setenv("TTDF_HUB_REPO", "me/mirror")
    monkeypatch.setenv("TTDF_HUB_REVISION", "v1")
    assert resolve_hub() == ("me/mirror", "v1")
    assert resolve_hub("other/repo", "abc123") == ("other/repo", "abc123")


def _fake_hub(monkeypatch, mirror: Path, *, damage: str | None = None) -> list[dict]:
    """Replace snapshot_download by a copy from ``mirror`` of the files the patterns allow."""
    calls = []

    def snapshot_download(**kwargs):
        calls.append(kwargs)
        local = Path(kwargs["local_dir"])
        for path in mirror.rglob("*"):
            rel = path.relative_to(mirror).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(rel, p) for p in kwargs["allow_patterns"]):
                (local / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, local / rel)
                if rel == damage:
                    (local / rel).write_bytes((local / rel).read_bytes()[:-4] + b"oops")
        return str(local)

    monkeypatch.setattr(ttdf.download, "snapshot_download", snapshot_download)
    return calls


def test_download_subset_verifies_and_indexes(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    records = write_tiny_dataset(mirror, sources=2, methods=("magicanimate", "magicdance"), configs=("mismatch",))
    calls = _fake_hub(monkeypatch, mirror)
    root = tmp_path / "root"
    filt = VideoFilter(methods=("magicanimate",), labels=("fake",))

    report = download_dataset(root, filt, workers=3, progress=False)
    assert calls == [dict(repo_id="HashTAG00002/TT-DF", repo_type="dataset", revision="main",
                          allow_patterns=["manifest.csv", "fake/magicanimate/*/*/*/*"], local_dir=str(root),
                          max_workers=3, token=None)]
    wanted = sorted(r.path for r in records if filt.matches(r))
    assert len(wanted) == 2 and report.verified == wanted and [f.path for f in report.files] == wanted
    assert not report.corrupt and not report.missing and not report.unverified
    with VideoIndex.open(root) as index:
        assert [v.path for v in index.query()] == wanted


def test_checksum_mismatch_is_moved_aside_and_refetched(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    records = write_tiny_dataset(mirror, sources=1, methods=("magicanimate",), configs=("match",))
    victim = records[0].path
    _fake_hub(monkeypatch, mirror, damage=victim)
    root = tmp_path / "root"

    report = download_dataset(root, repo_id="me/mirror", revision="v1", token="hf_x", progress=False)
    assert [p for p, _ in report.corrupt] == [victim] and "sha256" in report.corrupt[0][1]
    assert not (root / victim).exists() and (root / (victim + ".corrupt")).exists()
    with VideoIndex.open(root) as index:
        assert victim not in {v.path for v in index.query(status=None)}

    calls = _fake_hub(monkeypatch, mirror)
    again = download_dataset(root, repo_id="me/mirror", revision="v1", token="hf_x", progress=False)
    assert calls[0]["repo_id"] == "me/mirror" and calls[0]["revision"] == "v1" and calls[0]["token"] == "hf_x"
    assert not again.corrupt and victim in again.verified


def test_dry_run_lists_remote_files_and_writes_nothing(tmp_path, monkeypatch):
    seen = {}

    class FakeApi:
        def list_repo_tree(self, repo_id, **kwargs):
            seen.update(kwargs, repo_id=repo_id)
            yield RepoFile(path="manifest.csv", size=100, oid="a")
            yield RepoFolder(path="fake", oid="b")
            yield RepoFile(path="fake/magicanimate/mismatch/c23/test/s000__s001.mp4", size=2000, oid="c")
            yield RepoFile(path="fake/magicanimate/match/c23/test/s000__s000.mp4", size=3000, oid="d")
            yield RepoFile(path="real/c23/test/s000.mp4", size=500, oid="e")
            yield RepoFile(path="real/c40/test/s000.mp4", size=400, oid="f")

    monkeypatch.setattr(ttdf.download, "HfApi", FakeApi)
    root = tmp_path / "root"
    filt = VideoFilter(configs=("mismatch",), compressions=("c23",))
    report = download_dataset(root, filt, dry_run=True, progress=False)
    assert seen == dict(repo_id="HashTAG00002/TT-DF", repo_type="dataset", revision="main", recursive=True,
                        token=None)
    assert [(f.path, f.size) for f in report.files] == [
        ("fake/magicanimate/mismatch/c23/test/s000__s001.mp4", 2000), ("manifest.csv", 100),
        ("real/c23/test/s000.mp4", 500)]
    assert report.total_bytes == 2600 and report.dry_run
    assert not root.exists()


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # conftest sets the env; constants read it at import


def test_offline_download_fails_with_one_line(tmp_path, offline):
    with pytest.raises(DownloadError) as exc:
        download_dataset(tmp_path / "root", progress=False)
    message = str(exc.value)
    assert "\n" not in message and "HF_HUB_OFFLINE" in message and "ttdf import" in message
    assert "HashTAG00002/TT-DF" in message
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        download_dataset(tmp_path / "root", dry_run=True, progress=False)


@pytest.mark.parametrize("error, expected", [
    (lambda r: RepositoryNotFoundError("404", response=r), "not found"),
    (lambda r: GatedRepoError("403", response=r), "gated"),
    (lambda r: httpx2.ConnectError("[Errno -2] Name or service not known"), "cannot reach the Hugging Face Hub"),
])
def test_hub_errors_become_download_errors(tmp_path, monkeypatch, error, expected):
    response = httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/api/datasets/x"))

    def failing(**kwargs):
        raise error(response)

    monkeypatch.setattr(ttdf.download, "snapshot_download", failing)
    with pytest.raises(DownloadError, match=expected) as exc:
        download_dataset(tmp_path, progress=False)
    assert "\n" not in str(exc.value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ttdf")
    cli_download.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli(tmp_path, monkeypatch, capsys, offline):
    root = tmp_path / "root"
    assert run_command(_parser(), ["download", "--root", str(root), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ttdf: error:") and "Traceback" not in err

    mirror = tmp_path / "mirror"
    write_tiny_dataset(mirror, sources=1, methods=("magicanimate",), configs=("match",))
    calls = _fake_hub(monkeypatch, mirror)
    assert run_command(_parser(), ["download", "--root", str(root), "--label", "real", "--repo-id", "me/m",
                                   "--no-verify", "--no-progress"]) == 0
    assert calls[0]["allow_patterns"] == ["manifest.csv", "real/*/*/*"] and calls[0]["max_workers"] == 8
    assert "1 video(s)" in capsys.readouterr().out

    calls.clear()
    assert run_command(_parser(), ["download", "--root", str(root), "--method", "deepfacelab", "--no-progress"]) == 2
    err = capsys.readouterr().err  # checked against the root's taxonomy (a root may register its own methods)
    assert err.count("\n") == 1 and "deepfacelab" in err and "Traceback" not in err and not calls
