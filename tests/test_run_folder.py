"""A rerun resumes only an identical run, refuses a different or finished one, and starts over when told."""
from __future__ import annotations

import json

import pytest

from tofnet.run_folder import RUN_CONFIG, check_run_folder, clear_run_folder, config_diff
from ttdf.errors import TTDFError

RUN = {"root": "data", "out": "runs/a", "epochs": 2, "lr": 0.001, "resume": False, "workers": 0,
       "data": {"size": [112, 112], "clip_len": 8, "flow_backend": "dis"}}


def _folder(tmp_path, config: dict = RUN):
    (tmp_path / RUN_CONFIG).write_text(json.dumps(config))
    return tmp_path


def test_config_diff_names_nested_keys_and_ignores_how_to_run():
    wanted = {**RUN, "epochs": 3, "root": "elsewhere", "workers": 4, "resume": True,
              "data": {**RUN["data"], "size": [64, 64]}, "seed": 1}
    assert config_diff(RUN, wanted) == ["data.size", "epochs", "seed"]
    assert config_diff(RUN, json.loads(json.dumps(RUN))) == []


def test_empty_folder_starts_and_overwrite_of_nothing_starts(tmp_path):
    assert check_run_folder(tmp_path, RUN, resume=False, overwrite=False, epochs_done=None) == "start"
    assert check_run_folder(tmp_path, RUN, resume=True, overwrite=False, epochs_done=None) == "start"
    assert check_run_folder(tmp_path, RUN, resume=False, overwrite=True, epochs_done=None) == "start"


def test_identical_run_resumes_only_with_resume(tmp_path):
    out = _folder(tmp_path)
    assert check_run_folder(out, RUN, resume=True, overwrite=False, epochs_done=1) == "resume"
    with pytest.raises(TTDFError, match=r"same settings \(finished\); pass --resume to continue it, --out elsewhere, "
                                        r"or --overwrite"):
        check_run_folder(out, RUN, resume=False, overwrite=False, epochs_done=2)
    with pytest.raises(TTDFError, match=r"stopped after 1 epoch\(s\)"):
        check_run_folder(out, RUN, resume=False, overwrite=False, epochs_done=1)


@pytest.mark.parametrize("resume", [False, True])
def test_different_run_is_refused_naming_the_keys(tmp_path, resume):
    out = _folder(tmp_path)
    wanted = {**RUN, "epochs": 5, "data": {**RUN["data"], "size": [64, 64]}}
    with pytest.raises(TTDFError) as info:
        check_run_folder(out, wanted, resume=resume, overwrite=False, epochs_done=2)
    message = str(info.value)
    assert "different settings (data.size, epochs)" in message and "--out elsewhere or --overwrite" in message
    assert "\n" not in message
    assert check_run_folder(out, wanted, resume=resume, overwrite=True, epochs_done=2) == "overwrite"


def test_checkpoints_without_a_run_config_or_an_unreadable_one_are_refused(tmp_path):
    with pytest.raises(TTDFError, match="no run_config.json"):
        check_run_folder(tmp_path, RUN, resume=True, overwrite=False, epochs_done=1)
    (tmp_path / RUN_CONFIG).write_text("{not json")
    with pytest.raises(TTDFError, match="unreadable"):
        check_run_folder(tmp_path, RUN, resume=True, overwrite=False, epochs_done=1)


def test_clear_removes_only_what_a_run_wrote(tmp_path):
    out = _folder(tmp_path)
    for name in ("best", "last", "tensorboard"):
        (out / name).mkdir()
        (out / name / "x").write_text("x")
    (out / "metrics.jsonl").write_text("{}\n")
    (out / "notes.txt").write_text("mine")
    clear_run_folder(out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_saved_config_is_compared_in_its_canonical_form(tmp_path):
    out = _folder(tmp_path, {**RUN, "configs": ["cross"]})
    rename = lambda saved: {**saved, "configs": ["mismatch" if c == "cross" else c for c in saved["configs"]]}
    wanted = {**RUN, "configs": ["mismatch"]}
    assert check_run_folder(out, wanted, resume=True, overwrite=False, epochs_done=1, canonical=rename) == "resume"
    with pytest.raises(TTDFError, match=r"different settings \(configs\)"):
        check_run_folder(out, wanted, resume=True, overwrite=False, epochs_done=1)
