"""Timing, memory and result rows shared by every bench stage.

Every measurement runs in a child forked from the bench process, so one stage's caches, thread pools
and peak memory never leak into the next. The parent imports the heavy libraries once (cheap forks)
but never computes anything itself: forking after OpenMP/OpenCV/CUDA start their threads can hang.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Work = Callable[[Any], Any]
ROW_BUDGET_S = 30.0  # per row: warm-up plus timed repeats stop here (after at least one timed call)
BUSY_CORES = 0.3  # other processes using more than this many cores on average during a row disturb it

# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the results table; ``median``/``best`` are already in ``unit``."""

    id: str
    label: str
    unit: str
    median: float | None = None
    best: float | None = None
    higher_is_better: bool = True
    seconds: list[float] = field(default_factory=list)
    work: float | None = None
    ratio: float | None = None
    ratio_to: str = ""
    peak_rss_mb: float | None = None
    extra_rss_mb: float | None = None
    status: str = "ok"  # ok | skipped | error
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.median is not None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["stage"] = self.stage
        if self.seconds:
            data["seconds_min"] = min(self.seconds)
            data["seconds_median"] = statistics.median(self.seconds)
        return data


def skipped(row_id: str, label: str, unit: str, note: str) -> Row:
    return Row(row_id, label, unit, status="skipped", note=note)


def value_row(row_id: str, label: str, unit: str, value: float, *, best: float | None = None,
              higher_is_better: bool = False, note: str = "", extra: dict | None = None) -> Row:
    """A derived figure (a size, an extrapolation) rather than a timing."""
    return Row(row_id, label, unit, median=value, best=value if best is None else best,
               higher_is_better=higher_is_better, note=note, extra=extra or {})


def relate(row: Row | None, ref: Row | None, name: str) -> None:
    """Set ``row.ratio`` to its speed against ``ref`` (>1 = faster), for rates and for times alike.

    Ratios compare best repeats: on a shared machine the fastest repeat is the one least disturbed.
    A row (or reference) whose repeats were cut short by the row time budget *on a busy machine* gets no
    ratio, only a note: one slow repeat while other work ran is not a measurement to compare. (Cut short
    on an idle machine, the repeats it did run are as good as any.)
    """
    if row is None or ref is None or not row.ok or not ref.ok or not ref.best or not row.best:
        return
    cut = [r for r in (row, ref) if r.extra.get("repeats_cut") and r.extra.get("others_cores", 0.0) > BUSY_CORES]
    if cut:
        why = ", ".join(f"{r.id} ran {len(r.seconds)} of {r.extra['repeats_cut']} repeats" for r in cut)
        row.note = "; ".join(filter(None, [row.note, f"no ratio to {name}: {why} (busy machine)"]))
        return
    if not row.higher_is_better:  # times: ref / row, so >1 still means faster
        row.ratio = ref.best / row.best
    else:
        row.ratio = row.best / ref.best
    row.ratio_to = name


def by_id(rows: list[Row]) -> dict[str, Row]:
    return {row.id: row for row in rows}


def scaling_note(more: Row | None, one: Row | None, cpus: int | None = None) -> str:
    """Why ``more`` workers may not scale: how many cores one worker already kept busy, the ratio the machine's
    cores then give at the same efficiency, and the ratio per core used (1.0 = the pool adds no overhead)."""
    if more is None or one is None or more.ratio is None or not one.extra.get("cores") or not more.extra.get("cores"):
        return ""
    cpus = cpus or os.cpu_count() or 1
    used, cap = one.extra["cores"], cpus / one.extra["cores"]
    per_core = more.ratio * used / more.extra["cores"]
    return (f"; workers=1 already kept {used:.1f} cores busy (its decoders' and libraries' threads), so {cpus} "
            f"cores give {cap:.2f}x at the same work per core; per core used, workers=2 runs at {per_core:.2f}x "
            "workers=1 (above 1: single-threaded workers waste less on thread hand-offs)")


# --------------------------------------------------------------------------- isolated measurement


@dataclass(frozen=True)
class Timing:
    seconds: tuple[float, ...]
    value: Any = None  # what the last timed call returned when it is a dict (sizes, counts)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_calls(fn: Work, state: Any, *, repeats: int, warmup: int = 0,
               before_each: Callable[[Any], None] | None = None, budget_s: float = float("inf")) -> Timing:
    """Call ``fn(state)`` ``warmup`` times untimed, then ``repeats`` times timed (``before_each`` untimed).

    Repeats stop early (after at least one) once ``budget_s`` has passed, so a machine busy with other
    work cannot push the whole bench past its time limit; the row then has fewer timings.
    """
    result: Any = None
    started = time.perf_counter()
    for _ in range(warmup):
        if before_each:
            before_each(state)
        fn(state)
    seconds: list[float] = []
    for _ in range(max(1, repeats)):
        if seconds and time.perf_counter() - started > budget_s:
            break
        if before_each:
            before_each(state)
        start = time.perf_counter()
        result = fn(state)
        seconds.append(time.perf_counter() - start)
    return Timing(tuple(seconds), result if isinstance(result, dict) else None)


def run_isolated(fn: Callable[[], Any], *, timeout: float = 600.0) -> tuple[Any, dict]:
    """``fn()`` in a forked child: (its result, memory dict); the child's exception is re-raised here."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(fn, send), daemon=False)  # non-daemon: may start worker pools
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            child.kill()
            raise TimeoutError(f"no result after {timeout:.0f} s")
        try:
            status, payload, memory = receive.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"the measuring process died (exit code {child.exitcode})") from None
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
    if status == "error":
        raise RuntimeError(payload)
    return payload, memory


def _child(fn: Callable[[], Any], send) -> None:
    base = _reset_peak_rss()
    try:
        result = fn()
        send.send(("ok", result, {**_memory(base), "cpu_s": own_cpu_seconds()}))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as text
        lines = traceback.format_exception(exc)
        send.send(("error", f"{type(exc).__name__}: {exc}\n{''.join(lines[-6:])}", {}))
    finally:
        send.close()


def measure(row_id: str, label: str, fn: Work, *, work: float, unit: str, repeats: int,
            prepare: Callable[[], Any] | None = None, before_each: Callable[[Any], None] | None = None,
            warmup: int = 0, per: float | None = None, budget_s: float = ROW_BUDGET_S, timeout: float = 300.0,
            note: str = "") -> Row:
    """Time ``fn(state)`` in a fresh child; the row's value is ``work / seconds`` (a rate, e.g. frames/s).

    ``prepare()`` runs once in the child (untimed) and returns the state. With ``per`` the value is
    instead ``seconds / per`` (lower is better, e.g. seconds per video-second).
    """
    def job() -> Timing:
        state = prepare() if prepare else None
        return time_calls(fn, state, repeats=repeats, warmup=warmup, before_each=before_each, budget_s=budget_s)

    started, load = time.perf_counter(), os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy_before = machine_cpu_seconds()
    try:
        timing, memory = run_isolated(job, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - one broken row must not lose the others
        return Row(row_id, label, unit, status="error", note=f"failed: {str(exc).splitlines()[0][:300]}",
                   extra={"traceback": str(exc)})
    wall, ours = time.perf_counter() - started, memory.pop("cpu_s", None)
    busy = business(wall, ours, busy_before, machine_cpu_seconds())
    if per is None:
        median, best, higher = work / timing.median, work / timing.min, True
    else:
        median, best, higher = timing.median / per, timing.min / per, False
    extra = {**(timing.value or {}), "child_wall_s": round(wall, 3), "load_1min": load, **busy}  # incl. prepare
    if len(timing.seconds) < repeats:
        note = "; ".join(filter(None, [note, f"{len(timing.seconds)} of {repeats} repeats (row time budget)"]))
        extra["repeats_cut"] = repeats
    if busy.get("others_cores", 0.0) > BUSY_CORES:
        note = "; ".join(filter(None, [note, f"disturbed: other processes used {busy['others_cores']:.1f} cores"]))
    return Row(row_id, label, unit, median=median, best=best, higher_is_better=higher,
               seconds=list(timing.seconds), work=work, note=note, extra=extra, **memory)


# --------------------------------------------------------------------------- how busy the machine was


def own_cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (worker pools, ffmpeg)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def machine_cpu_seconds() -> float | None:
    """CPU time every process on the machine has used since boot (Linux ``/proc/stat``), else None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def business(wall: float, ours: float | None, before: float | None, after: float | None) -> dict:
    """Cores this row used on average, and cores the rest of the machine used meanwhile (its disturbance)."""
    if ours is None or wall <= 0:
        return {}
    result = {"cpu_s": round(ours, 3), "cores": round(ours / wall, 2)}
    if before is not None and after is not None:
        result["others_cores"] = round(max(0.0, after - before - ours) / wall, 2)
    return result


# --------------------------------------------------------------------------- memory

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _reset_peak_rss() -> float | None:
    """Reset the kernel's RSS high-water mark (Linux), so the peak covers only what runs next."""
    try:
        _CLEAR_REFS.write_text("5")
        return _status_mb("VmRSS")
    except OSError:
        return None


def _memory(base: float | None) -> dict:
    """Peak RSS of this process, and how far it rose above the RSS it had when forked."""
    peak = _status_mb("VmHWM") if base is not None else None
    if peak is None:  # no /proc: ru_maxrss (KiB on Linux, bytes on macOS) includes the parent's baseline
        scale = 1 / 1024 if os.uname().sysname == "Linux" else 1 / 2**20
        return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale}
    return {"peak_rss_mb": peak, "extra_rss_mb": peak - base}


def current_rss_mb() -> float | None:
    return _status_mb("VmRSS")


def _status_mb(key: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def format_number(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"
