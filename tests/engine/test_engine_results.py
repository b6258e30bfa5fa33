"""Results: JSON lines appended durably, loaded back as dicts (and a DataFrame)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
from _engine_testing import ListHandler

from procession.engine import HashableDict, Results, StateCorrupted


def test_append_then_load_flat_dicts(tmp_path: Path) -> None:
    results = Results(tmp_path)
    assert results.path == str(tmp_path / "results.jsonl")
    assert results.load() == []
    results.append(HashableDict(size=1, mode="a"), {"time": 1.5})
    results.append({"size": 2, "mode": "a"}, {"time": 2.5, "ok": True})
    assert results.load() == [
        {"size": 1, "mode": "a", "time": 1.5},
        {"size": 2, "mode": "a", "time": 2.5, "ok": True},
    ]
    records = Results(results.path).records()
    assert records[0]["combination"] == {"size": 1, "mode": "a"}
    assert records[0]["result"] == {"time": 1.5}
    assert isinstance(records[0]["time"], float)
    assert len(results) == 2


def test_unique_keeps_the_last_record_of_a_combination(tmp_path: Path) -> None:
    results = Results(tmp_path / "r.jsonl")
    results.append({"n": 1, "m": "x"}, {"v": 1})
    results.append({"m": "x", "n": 1}, {"v": 2})  # re-run after a crash
    assert results.load() == [{"n": 1, "m": "x", "v": 2}]
    assert len(results.load(unique=False)) == 2


def test_invalid_records_are_refused(tmp_path: Path) -> None:
    results = Results(tmp_path)
    with pytest.raises(ValueError, match="size"):
        results.append({"size": 1}, {"size": 2})
    with pytest.raises(TypeError, match="strings"):
        results.append({1: 1}, {"v": 2})
    with pytest.raises(TypeError):
        results.append({"n": 1}, {"v": object()})
    assert results.load() == []


def test_torn_last_line_is_ignored_then_cut(tmp_path: Path, plog: ListHandler) -> None:
    results = Results(tmp_path)
    results.append({"n": 1}, {"v": 1})
    with open(results.path, "ab") as f:
        f.write(b'{"combination": {"n": 2}, "res')  # crash in the middle of a write
    assert results.load() == [{"n": 1, "v": 1}]
    results.append({"n": 3}, {"v": 3})
    assert results.load() == [{"n": 1, "v": 1}, {"n": 3, "v": 3}]
    assert any("incomplete last line" in m for m in plog.messages())


def test_corrupted_line_in_the_middle_is_reported(tmp_path: Path) -> None:
    results = Results(tmp_path)
    for n in range(3):
        results.append({"n": n}, {"v": n})
    lines = Path(results.path).read_bytes().split(b"\n")
    lines[1] = lines[1][:10] + b"#" + lines[1][11:]
    Path(results.path).write_bytes(b"\n".join(lines))
    with pytest.raises(StateCorrupted, match="line 2"):
        results.load()


def test_threads_append_whole_lines(tmp_path: Path) -> None:
    results = Results(tmp_path, fsync=False)

    def write(t: int) -> None:
        for n in range(50):
            Results(tmp_path, fsync=False).append({"t": t, "n": n}, {"pad": "x" * 5000})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results.load()) == 200


def test_dataframe_with_pandas_or_a_clear_error(tmp_path: Path) -> None:
    results = Results(tmp_path)
    results.append({"n": 1}, {"v": 1.0})
    results.append({"n": 2}, {"v": 4.0})
    if importlib.util.find_spec("pandas") is None:
        with pytest.raises(ImportError, match="pip install pandas"):
            results.dataframe()
    else:
        frame = results.dataframe()
        assert list(frame.columns) == ["n", "v"]
        assert frame["v"].tolist() == [1.0, 4.0]
