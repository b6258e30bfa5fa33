"""sweep, HashableDict, geom, igeom, sweep_stats, slugify: pure functions on data."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from procession.engine import HashableDict, geom, igeom, slugify, sweep, sweep_stats


def test_sweep_is_the_cartesian_product_first_factor_slowest() -> None:
    combs = sweep({"a": [1, 2], "b": ["x", "y", "z"]})
    assert combs == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]
    assert all(type(c) is HashableDict for c in combs)
    assert len(set(combs)) == 6


def test_sweep_sub_factors_only_under_their_level() -> None:
    combs = sweep(
        {
            "p1": ["a", "b"],
            "p2": {1: {"p11": ["x", "y"], "p12": [0.0, 1.0]}, 2: {"p21": [-10, 10]}},
        }
    )
    assert len(combs) == 2 * (2 * 2 + 2)
    assert {"p1": "a", "p2": 1, "p11": "y", "p12": 1.0} in combs
    assert {"p1": "b", "p2": 2, "p21": -10} in combs
    assert all("p21" not in c for c in combs if c["p2"] == 1)
    assert all("p11" not in c and "p12" not in c for c in combs if c["p2"] == 2)


def test_sweep_recursive_and_empty_sub_specs() -> None:
    combs = sweep({"os": {"linux": {"fs": {"ext4": {}, "xfs": {"log": [1, 2]}}}, "bsd": {}}})
    assert combs == [
        {"os": "linux", "fs": "ext4"},
        {"os": "linux", "fs": "xfs", "log": 1},
        {"os": "linux", "fs": "xfs", "log": 2},
        {"os": "bsd"},
    ]


def test_sweep_drops_factors_without_levels_and_accepts_ranges_tuples() -> None:
    assert sweep({"a": range(2), "b": (), "c": ("u",)}) == [{"a": 0, "c": "u"}, {"a": 1, "c": "u"}]
    assert sweep({}) == [{}]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"size": 10}, ["'size'", "int"]),
        ({"mode": "fast"}, ["'mode'", "str"]),
        ({"x": None}, ["'x'", "NoneType"]),
        ({"n": [[1, 2], [3]]}, ["'n'", "[1, 2]", "not hashable"]),
        ({"n": {1: {"m": [{}]}}}, ["'m'", "under 'n'=1", "not hashable"]),
        ({"n": {1: ["m"]}}, ["under 'n'=1", "expected a dict"]),
    ],
)
def test_sweep_malformed_specs_name_the_factor(spec: dict[str, object], words: list[str]) -> None:
    with pytest.raises(TypeError) as info:
        sweep(spec)
    for word in words:
        assert word in str(info.value)


def test_sweep_sub_factor_reusing_an_enclosing_name_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'a'.*enclosing"):
        sweep({"a": {1: {"a": [2]}}})


def test_hashable_dict_hash_ignores_order_and_needs_no_sortable_keys() -> None:
    d1 = HashableDict({"a": 1, 2: "b"})
    d2 = HashableDict({2: "b", "a": 1})
    assert d1 == d2 and hash(d1) == hash(d2)
    assert d1 == {"a": 1, 2: "b"}
    assert len({d1, d2}) == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.__setitem__("z", 9),
        lambda d: d.__delitem__("a"),
        lambda d: d.update(z=9),
        lambda d: d.setdefault("z", 9),
        lambda d: d.pop("a"),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.__ior__({"z": 9}),
    ],
)
def test_hashable_dict_hash_follows_mutation(mutate: object) -> None:
    d = HashableDict({"a": 1, "b": 2})
    hash(d)
    mutate(d)  # type: ignore[operator]
    assert hash(d) == hash(HashableDict(d))


def test_hashable_dict_pickles_without_its_cached_hash() -> None:
    d = HashableDict({"name": "xyz", "n": 3})
    hash(d)
    data = pickle.dumps(d)
    assert pickle.loads(data) == d
    assert type(pickle.loads(data)) is HashableDict
    assert b"procession.engine" in data and b"_sweep" not in data
    # Another interpreter hashes strings differently: it must recompute.
    code = (
        "import pickle, sys\n"
        "from procession.engine import HashableDict\n"
        "d = pickle.loads(sys.stdin.buffer.read())\n"
        "assert d in {HashableDict({'n': 3, 'name': 'xyz'})}\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], input=data, env=env, check=True, timeout=60)


def test_geom() -> None:
    assert geom(1, 100, 3) == [1.0, 10.0, 100.0]
    assert geom(2, 2000, 4) == pytest.approx([2.0, 20.0, 200.0, 2000.0])
    assert geom(1, 8, 0) == []
    assert geom(5, 8, 1) == [5.0]
    with pytest.raises(ValueError):
        geom(0, 8, 3)
    with pytest.raises(ValueError):
        geom(1, 8, -1)


def test_igeom_rounds_and_deduplicates() -> None:
    assert igeom(1, 1000, 4) == [1, 10, 100, 1000]
    assert igeom(1, 4, 5) == [1, 2, 3, 4]
    assert igeom(3, 9, 1) == [3]
    assert igeom(3, 9, 0) == []


def test_sweep_stats_counts_and_ratios_per_level() -> None:
    combs = sweep({"a": [1, 2], "b": ["x", "y"]})
    done = {combs[0], combs[1]}
    inprogress = {combs[2]}
    remaining = {combs[3]}
    stats = sweep_stats((set(combs), remaining, set(), inprogress, done))
    assert stats["total"] == {"a": {1: 2, 2: 2}, "b": {"x": 2, "y": 2}}
    assert stats["done"] == {"a": {1: 2}, "b": {"x": 1, "y": 1}}
    assert stats["done_ratio"]["a"] == {1: 1.0, 2: 0.0}
    assert stats["inprogress_ratio"]["b"] == {"x": 0.5, "y": 0.0}
    assert stats["skipped"] == {}
    assert stats["skipped_ratio"]["a"] == {1: 0.0, 2: 0.0}
    assert stats["remaining_ratio"]["b"]["y"] == 0.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Hello World", "hello-world"),
        ("  Écriture -- rapide!  ", "ecriture-rapide"),
        ({"size": 1024, "mode": "a b"}, "size-1024-mode-a-b"),
        ("a_b", "a_b"),
    ],
)
def test_slugify(value: object, expected: str) -> None:
    assert slugify(value) == expected


def test_slugify_separator() -> None:
    assert slugify("one two__three", separator="_") == "one_two_three"
    assert slugify("a.b c", separator=".") == "ab.c"
