"""Both command lines, assembled from every subject module, through their real entry points."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tofnet.cli import COMMAND_MODULES as TOFNET_MODULES
from tofnet.cli import build_parser as tofnet_parser
from tofnet.cli import main as tofnet_main
from ttdf.cli import build_parser as ttdf_parser
from ttdf.cli import main as ttdf_main


def _commands(parser) -> list[str]:
    return sorted(parser._subparsers._group_actions[0].choices)


def test_every_command_is_registered():
    assert _commands(ttdf_parser()) == sorted(["synth", "forge", "download", "import", "index", "ls", "stats", "verify",
                                               "compress"])
    assert _commands(tofnet_parser()) == sorted(TOFNET_MODULES)


@pytest.mark.parametrize("main, command", [(ttdf_main, c) for c in _commands(ttdf_parser())] +
                         [(tofnet_main, c) for c in _commands(tofnet_parser())])
def test_help_everywhere(main, command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_synth_index_ls_through_the_console_script(tmp_path):
    root = tmp_path / "ds"
    for args in (["synth", "--root", str(root), "--sources", "3", "--frames", "6", "--no-progress"],
                 ["index", "--root", str(root), "--no-progress"]):
        result = subprocess.run([sys.executable, "-m", "ttdf.cli", *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "ttdf.cli", "ls", "--root", str(root), "--label", "real",
                             "--format", "json"], capture_output=True, text=True)
    rows = json.loads(result.stdout)
    assert len(rows) == 3 and {r["label"] for r in rows} == {"real"}


def test_user_errors_are_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ttdf.cli", "ls", "--root", str(tmp_path / "missing")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "ttdf index" in result.stderr


@pytest.mark.parametrize("main, argv", [
    (tofnet_main, ["train", "--root", "r", "--seed", "-1"]),
    (tofnet_main, ["benchmark", "--root", "r", "--seeds", "0", "-2"]),
    (ttdf_main, ["forge", "--root", "r", "--seed", "-1"]),
    (ttdf_main, ["synth", "--root", "r", "--seed", "x"]),
])
def test_a_seed_that_no_generator_takes_is_refused_in_one_line(main, argv, capsys):
    # NumPy's generators take no negative seed: refused before any work, not as a traceback mid-run
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    option = next(a for a in reversed(argv) if a.startswith("--"))
    assert f"argument {option}: expected a whole number >= 0" in capsys.readouterr().err
