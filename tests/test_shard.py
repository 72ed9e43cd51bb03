import argparse

import pytest

from ttdf.cli.options import shard_options
from ttdf.shard import check_shard, parse_shard, select_shard, shard_name


def test_shards_are_disjoint_cover_everything_and_are_balanced():
    items = [f"v{i:02d}.mp4" for i in range(11)]
    shuffled = items[5:] + items[:5]  # the order given must not matter, only the sort key
    parts = [select_shard(shuffled, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == items
    assert [len(p) for p in parts] == [4, 4, 3]
    assert parts[1] == ["v01.mp4", "v04.mp4", "v07.mp4", "v10.mp4"]
    assert select_shard(shuffled, (0, 1)) == items


def test_select_shard_uses_the_key():
    records = [{"path": p} for p in ("b", "a", "c")]
    assert select_shard(records, (0, 2), key=lambda r: r["path"]) == [{"path": "a"}, {"path": "c"}]


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "x", "1/2/3", ""])
def test_bad_shards_are_refused(text):
    with pytest.raises(ValueError):
        parse_shard(text)


def test_shard_names_and_cli_option(capsys):
    assert parse_shard("1/4") == (1, 4) and shard_name((1, 4)) == "1-of-4" and check_shard(("0", "1")) == (0, 1)
    parser = argparse.ArgumentParser(parents=[shard_options()])
    assert parser.parse_args([]).shard == (0, 1)
    assert parser.parse_args(["--shard", "2/3"]).shard == (2, 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--shard", "3/3"])
    assert "out of range: i must be 0..n-1 (for n=3: 0/3, 1/3, 2/3)" in capsys.readouterr().err
