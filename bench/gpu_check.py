"""``make gpu-check`` (``python -m bench.gpu_check``): the GPU paths no CPU test runs, in a few minutes.

One line per check, ``PASS``/``FAIL``/``SKIP`` with numbers:

- ``raft.pretrained``: torchvision's RAFT-small weights recover a known translation (SKIP when they cannot
  be downloaded, e.g. offline; the next check then uses random weights);
- ``raft.flow``: ``compute_flow_for_index`` with raft_small on a few videos;
- ``train.amp_compile``: one epoch of TOF-Net with AMP and ``torch.compile``;
- ``ddp.nccl.1`` / ``ddp.nccl.2``: ``torchrun --nproc_per_node N`` with NCCL through train + validation,
  interrupted after the first epoch, then ``--resume``d (``.2`` needs 2 GPUs, else SKIP).

Without CUDA every check prints SKIP and the exit code is 0; it is 1 when any check FAILs.
``--device cpu`` runs the same checks on the CPU (gloo, fp32, no compile): slow, for testing this script.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHECKS = ("raft.pretrained", "raft.flow", "train.amp_compile", "ddp.nccl.1", "ddp.nccl.2")
SIZE = (64, 64)
SHIFT = (3, -2)  # (x, y) pixels per frame for the translation check
TRAIN_ARGS = ("--model", "tofnet", "--backbone", "mobilenetv3_small_050", "--batch-size", "4", "--size", "64x64",
              "--clip-len", "4", "--no-progress")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: run the checks without a GPU (slow; for testing this script)")
    parser.add_argument("--work", type=Path, help="folder for the data and runs (default: a temporary one)")
    parser.add_argument("--only", nargs="+", choices=CHECKS, default=CHECKS, metavar="CHECK",
                        help=f"run only these checks ({', '.join(CHECKS)})")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.ddp_worker:
        return _ddp_worker(rest, args.stop_after)

    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        for name in CHECKS:
            _line("SKIP", name, "no CUDA device (torch.cuda.is_available() is False)")
        return 0
    gpus = torch.cuda.device_count() if cuda else 2
    print(f"gpu-check: torch {torch.__version__}, "
          f"{torch.cuda.get_device_name(0) + f' x{gpus}' if cuda else 'CPU (--device cpu)'}", flush=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="tofnet-gpu-check-"))
    root = _dataset(work / "data")
    checks: dict[str, Callable[[], tuple[str, str]]] = {
        "raft.pretrained": lambda: _raft_pretrained(args.device),
        "raft.flow": lambda: _raft_flow(root, args.device, "default" if status.get("raft.pretrained") == "PASS"
                                        else "random"),
        "train.amp_compile": lambda: _train_amp_compile(root, work / "amp", args.device),
        **{f"ddp.nccl.{n}": (lambda n=n: _ddp(root, work / f"ddp{n}", n, args.device) if n <= gpus
                             else ("SKIP", f"needs {n} GPUs, found {gpus}")) for n in (1, 2)},
    }
    status: dict[str, str] = {}
    for name in CHECKS:
        if name in args.only:
            status[name] = _check(name, checks[name])
    return 1 if "FAIL" in status.values() else 0


def _line(status: str, name: str, message: str) -> None:
    print(f"{status:4s} {name}: {message}", flush=True)


def _check(name: str, run: Callable[[], tuple[str, str]]) -> str:
    """Run one check, print its line; an exception is a FAIL with its first line."""
    start = time.perf_counter()
    try:
        status, message = run()
    except Exception as exc:  # a check must never stop the others
        status, message = "FAIL", f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    _line(status, name, f"{message} [{time.perf_counter() - start:.1f} s]")
    return status


def _dataset(root: Path) -> Path:
    from ttdf.index import index_dataset
    from ttdf.synth import SynthConfig, synthesize

    synthesize(root, SynthConfig(sources=6, frames=12, width=SIZE[1], height=SIZE[0]), workers=4, progress=False)
    index_dataset(root, workers=4, progress=False)
    return root


def _raft_pretrained(device: str) -> tuple[str, str]:
    import cv2
    import numpy as np

    from tofnet.flow import create_flow_estimator
    from ttdf.errors import DownloadError

    try:
        estimator = create_flow_estimator("raft_small", device=device)
    except DownloadError as exc:
        reason = (str(exc.__cause__ or exc).strip().splitlines() or ["?"])[0][:160]
        return "SKIP", f"torchvision's weights cannot be downloaded ({reason}); raft.flow uses random weights"
    noise = np.random.default_rng(0).integers(0, 256, (200, 200)).astype(np.float32)
    texture = np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 4 - 384, 0, 255).astype(np.uint8)
    frames = np.stack([np.repeat(texture[40 - k * SHIFT[1]:168 - k * SHIFT[1], 40 - k * SHIFT[0]:168 - k * SHIFT[0],
                                         None], 3, axis=-1) for k in range(4)])
    flow = estimator(frames)[:, :, 16:-16, 16:-16]
    found = (float(np.median(flow[:, 0])), float(np.median(flow[:, 1])))
    status = "PASS" if max(abs(found[0] - SHIFT[0]), abs(found[1] - SHIFT[1])) < 0.3 else "FAIL"
    return status, f"median flow ({found[0]:.2f}, {found[1]:.2f}) px for a ({SHIFT[0]}, {SHIFT[1]}) px translation"


def _raft_flow(root: Path, device: str, weights: str) -> tuple[str, str]:
    from tofnet.flow_cache import compute_flow_for_index
    from ttdf.records import VideoFilter

    start = time.perf_counter()
    report = compute_flow_for_index(root, VideoFilter(splits=("test",), labels=("real",)), backend="raft_small",
                                    size=SIZE, backend_kwargs={"weights": weights, "device": device},
                                    progress=False)
    seconds = time.perf_counter() - start
    status = "PASS" if report.computed >= 1 and not report.failed else "FAIL"
    detail = f"; first failure: {report.failed[0][0]}: {report.failed[0][1]}" if report.failed else ""
    return status, (f"{report.computed} videos at {SIZE[0]}x{SIZE[1]} with {weights} weights in {seconds:.1f} s, "
                    f"{len(report.failed)} failed{detail}")


def _train_amp_compile(root: Path, out: Path, device: str) -> tuple[str, str]:
    from tofnet.data import DataConfig
    from tofnet.train import TrainConfig, train

    cuda = device == "cuda"
    config = TrainConfig(root=str(root), out=str(out), model_kwargs={"backbone": "mobilenetv3_small_050"},
                         epochs=1, batch_size=4, device=device, amp=cuda, compile=cuda, workers=2, progress=False,
                         data=DataConfig(size=SIZE, clip_len=4), overwrite=True)
    start = time.perf_counter()
    best = train(config)
    row = _rows(out)[-1]
    ok = row["train_loss"] == row["train_loss"] and best.get("n", 0) > 0  # NaN != NaN: AMP must not diverge
    return ("PASS" if ok else "FAIL"), (f"1 epoch, amp={cuda}, compile={cuda}: loss {row['train_loss']:.4f}, "
                                        f"val n={best.get('n')} auc={_fmt(best.get('auc'))}, "
                                        f"{time.perf_counter() - start:.1f} s with compilation")


def _ddp(root: Path, out: Path, n: int, device: str) -> tuple[str, str]:
    """Interrupt a 2-epoch torchrun run after epoch 0, resume it; check backend, rows, gathered validation."""
    from tofnet.data import videos_from_index
    from ttdf.records import VideoFilter

    train_args = ["train", "--root", str(root), "--out", str(out), "--epochs", "2", "--device", device,
                  "--workers", "2", *TRAIN_ARGS]
    first = _torchrun(n, ["--stop-after", "1", "--", *train_args])
    rows = _rows(out)
    if [r["epoch"] for r in rows] != [0]:
        return "FAIL", f"interrupted run wrote epochs {[r['epoch'] for r in rows]}, expected [0]: {first[-300:]}"
    second = _torchrun(n, ["--", *train_args, "--resume"])
    resumed = _rows(out)
    backends = sorted({line.split("backend=")[1] for line in (first + second).splitlines() if "backend=" in line})
    val_videos = len(videos_from_index(root, VideoFilter(splits=("val",))))
    problems = []
    if [r["epoch"] for r in resumed] != [0, 1] or resumed[0] != rows[0]:
        problems.append(f"resumed rows {[r['epoch'] for r in resumed]} (epoch 0 must be kept as it was)")
    if any(r["world_size"] != n for r in resumed):
        problems.append(f"world_size {[r['world_size'] for r in resumed]}")
    if any(r["val_n"] != val_videos for r in resumed):
        problems.append(f"val_n {[r['val_n'] for r in resumed]} but {val_videos} val videos (gather failed)")
    wanted = "nccl" if device == "cuda" else "gloo"
    if not backends or any(wanted not in b for b in backends):
        problems.append(f"process group backend {backends}, expected {wanted}")
    if problems:
        return "FAIL", "; ".join(problems) + f"; log: {second[-300:]}"
    return "PASS", (f"{n} process(es), backend {backends[0]}: interrupted after epoch 0, resumed to epoch 1; "
                    f"val_n={val_videos} gathered; loss {resumed[0]['train_loss']:.4f} -> {resumed[1]['train_loss']:.4f}")


def _torchrun(n: int, worker_args: list[str]) -> str:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
               "-m", "bench.gpu_check", "--ddp-worker", *worker_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    return result.stdout + result.stderr


def _ddp_worker(argv: list[str], stop_after: int | None) -> int:
    """One torchrun process: ``tofnet train`` as the CLI builds it, optionally stopped like a preempted job."""
    import torch.distributed as dist

    import tofnet.train
    from tofnet.cli import build_parser
    from tofnet.cli.common import train_config_from_args

    argv = argv[1:] if argv[:1] == ["--"] else argv
    config = train_config_from_args(build_parser().parse_args(argv))
    real_epoch, real_init = tofnet.train.train_one_epoch, tofnet.train.init_distributed

    def epoch(*args, epoch: int, **kwargs):
        if stop_after is not None and epoch >= stop_after:
            raise KeyboardInterrupt  # preempted after the checkpoint of the previous epoch
        return real_epoch(*args, epoch=epoch, **kwargs)

    def init():
        info = real_init()
        if info.is_main and dist.is_initialized():
            print(f"backend={dist.get_backend()}", flush=True)
        return info

    tofnet.train.train_one_epoch, tofnet.train.init_distributed = epoch, init
    try:
        tofnet.train.train(config)
    except KeyboardInterrupt:
        return 3
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rows(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


if __name__ == "__main__":
    sys.exit(main())
