"""`make bench` smoke test: the quick profile runs end to end and reports every row (or why it skipped it)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import all_rows
from bench.common import Row, relate, scaling_note

REPO = Path(__file__).resolve().parent.parent


def test_quick_bench_reports_every_row(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    rows = {row["id"]: row for row in report["rows"]}
    assert set(all_rows()) <= set(rows), f"missing rows: {sorted(set(all_rows()) - set(rows))}"
    for row_id, row in rows.items():
        if row["status"] == "skipped":
            assert row["note"], f"{row_id} skipped without saying why"
        else:
            assert row["status"] == "ok" and row["median"] > 0 and row["best"] > 0, row
    assert report["machine"]["cpu_count"] >= 1 and "torch" in report["machine"]["versions"]
    assert report["rows"][0]["id"] in (out / "bench.md").read_text()
    assert "| row |" in run.stdout


def _row(row_id: str, best: float, **extra) -> Row:
    return Row(row_id, row_id, "frames/s", median=best, best=best, extra=extra)


def test_ratios_are_withheld_only_for_rows_cut_short_on_a_busy_machine():
    idle_cut = _row("a", 30.0, repeats_cut=3, others_cores=0.0)
    relate(idle_cut, _row("ref", 20.0), "ref")
    assert idle_cut.ratio == 1.5 and idle_cut.ratio_to == "ref"  # an idle machine's repeats count
    busy_cut = _row("b", 30.0, repeats_cut=3, others_cores=1.2)
    relate(busy_cut, _row("ref", 20.0), "ref")
    assert busy_cut.ratio is None and "busy machine" in busy_cut.note
    against_busy = _row("c", 30.0)
    relate(against_busy, _row("ref", 20.0, repeats_cut=3, others_cores=1.0), "ref")
    assert against_busy.ratio is None and "ref ran" in against_busy.note


def test_scaling_note_says_what_one_worker_already_used():
    one, two = _row("w1", 20.0, cores=1.4), _row("w2", 28.0, cores=2.0)
    relate(two, one, "workers=1")
    note = scaling_note(two, one, cpus=2)
    assert "1.4 cores" in note and "give 1.43x at the same work per core" in note and "runs at 0.98x workers=1" in note
    assert scaling_note(two, _row("w1", 20.0), cpus=2) == ""  # no core count measured: nothing to say
