"""Parameter sweeps: pure functions over dicts of factors and levels.

Nothing here touches a file, a lock or a thread: :func:`sweep`, :func:`geom`,
:func:`igeom` and :func:`sweep_stats` are unit-tested on data.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Any

__all__ = ["HashableDict", "geom", "igeom", "sweep", "sweep_stats"]


class HashableDict(dict[Any, Any]):
    """A dict usable as a set member or a dict key: one combination of a sweep.

    Two ``HashableDict`` are equal when their items are equal (dict
    equality); the hash is computed from the items, so the keys need not be
    sortable (unlike Execo's), and cached until the dict is modified. Do not
    modify one while it is in a set, a dict key or a :class:`ParamSweeper`.
    """

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def _forget_hash(self) -> None:
        with contextlib.suppress(AttributeError):
            del self._hash

    def __setitem__(self, key: Any, value: Any) -> None:
        self._forget_hash()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._forget_hash()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> HashableDict:  # type: ignore[misc]
        self._forget_hash()
        super().__ior__(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Like :meth:`dict.update`."""
        self._forget_hash()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Like :meth:`dict.setdefault`."""
        self._forget_hash()
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        """Like :meth:`dict.pop`."""
        self._forget_hash()
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        """Like :meth:`dict.popitem`."""
        self._forget_hash()
        return super().popitem()

    def clear(self) -> None:
        """Like :meth:`dict.clear`."""
        self._forget_hash()
        super().clear()

    def __getstate__(self) -> None:
        # The cached hash must not travel: str hashes differ between processes.
        return None

    def __repr__(self) -> str:
        return f"HashableDict({dict.__repr__(self)})"


def geom(range_min: float, range_max: float, num_steps: int) -> list[float]:
    """A geometric progression of ``num_steps`` floats from ``range_min`` to ``range_max``.

    Both bounds are included exactly (``[1.0, 10.0, 100.0]`` for
    ``geom(1, 100, 3)``).

    Raises:
        ValueError: ``num_steps`` is negative, or a bound is not strictly
            positive while more than one step is asked.
    """
    if num_steps < 0:
        raise ValueError(f"geom: num_steps must be >= 0, got {num_steps}")
    if num_steps == 0:
        return []
    if num_steps == 1:
        return [float(range_min)]
    if range_min <= 0 or range_max <= 0:
        raise ValueError(f"geom: bounds must be > 0, got {range_min} and {range_max}")
    ratio = math.pow(float(range_max) / float(range_min), 1.0 / (num_steps - 1))
    middle = [float(range_min) * math.pow(ratio, i) for i in range(1, num_steps - 1)]
    return [float(range_min), *middle, float(range_max)]


def igeom(range_min: int, range_max: int, num_steps: int) -> list[int]:
    """An integer geometric progression from ``range_min`` to ``range_max``.

    The values of :func:`geom` rounded to integers, sorted, without
    duplicates: there may be fewer than ``num_steps`` of them
    (``igeom(1, 4, 5) == [1, 2, 3, 4]``).
    """
    if num_steps == 0:
        return []
    if num_steps == 1:
        return [int(range_min)]
    rounded = {round(x) for x in geom(range_min, range_max, num_steps)}
    return sorted(rounded | {int(range_min), int(range_max)})


def _levels(factor: Hashable, levels: object, path: str) -> Collection[Any]:
    where = f"factor {factor!r}{path}"
    if isinstance(levels, str | bytes) or not isinstance(levels, Collection):
        raise TypeError(
            f"{where}: levels must be a sequence (list, tuple, range) or a dict "
            f"{{level: {{sub-factor: levels}}}}, got {type(levels).__name__} {levels!r}"
        )
    for level in levels:
        try:
            hash(level)
        except TypeError:
            raise TypeError(
                f"{where}: level {level!r} is not hashable "
                f"({type(level).__name__}); use a tuple instead of a list, "
                "a frozenset instead of a set"
            ) from None
    return levels


def _sweep(parameters: Mapping[Any, Any], path: str, outer: frozenset[Any]) -> list[HashableDict]:
    if not isinstance(parameters, Mapping):
        raise TypeError(
            f"sweep{path}: expected a dict {{factor: levels}}, "
            f"got {type(parameters).__name__} {parameters!r}"
        )
    seen = outer | frozenset(parameters)
    for factor in parameters:
        if factor in outer:
            raise ValueError(f"factor {factor!r}{path} is also defined in an enclosing level")
    result = [HashableDict()]
    for factor, spec in parameters.items():
        levels = _levels(factor, spec, path)
        if len(levels) == 0:
            continue
        choices: list[dict[Any, Any]] = []
        if isinstance(spec, Mapping):
            for level, sub_spec in spec.items():
                sub_path = f"{path} (under {factor!r}={level!r})"
                sub_combs = _sweep(sub_spec, sub_path, seen)
                choices.extend({factor: level, **comb} for comb in sub_combs)
        else:
            choices = [{factor: level} for level in levels]
        result = [HashableDict({**base, **choice}) for base in result for choice in choices]
    return result


def sweep(parameters: Mapping[Any, Any]) -> list[HashableDict]:
    """All combinations of the levels of the factors: a full factorial design.

    Args:
        parameters: ``{factor: levels}``. ``levels`` is a sequence of
            hashable values, or a dict ``{level: {sub-factor: levels}}``
            whose sub-factors are only explored with that level of the
            factor (recursively). A factor with no level is left out.

    Returns:
        One :class:`HashableDict` ``{factor: level}`` per combination, the
        first factor varying slowest:

        >>> sweep({"a": [1, 2], "b": ["x", "y"]})  # doctest: +NORMALIZE_WHITESPACE
        [HashableDict({'a': 1, 'b': 'x'}), HashableDict({'a': 1, 'b': 'y'}),
         HashableDict({'a': 2, 'b': 'x'}), HashableDict({'a': 2, 'b': 'y'})]
        >>> sweep({"n": {1: {}, 2: {"mode": ["p", "q"]}}})  # doctest: +NORMALIZE_WHITESPACE
        [HashableDict({'n': 1}), HashableDict({'n': 2, 'mode': 'p'}),
         HashableDict({'n': 2, 'mode': 'q'})]

    Raises:
        TypeError: levels that are neither a sequence nor a dict (a string
            included), an unhashable level, or a sub-level spec that is not
            a dict; the message names the factor (and the enclosing levels).
        ValueError: a sub-factor with the name of an enclosing factor.
    """
    return _sweep(parameters, "", frozenset())


def _count(combinations: Iterable[Mapping[Any, Any]]) -> dict[Any, dict[Any, int]]:
    counts: dict[Any, dict[Any, int]] = {}
    for comb in combinations:
        for factor, level in comb.items():
            per_level = counts.setdefault(factor, {})
            per_level[level] = per_level.get(level, 0) + 1
    return counts


def _ratios(
    part: dict[Any, dict[Any, int]], total: dict[Any, dict[Any, int]]
) -> dict[Any, dict[Any, float]]:
    return {
        factor: {
            level: part.get(factor, {}).get(level, 0) / float(n) for level, n in levels.items()
        }
        for factor, levels in total.items()
    }


def sweep_stats(stats: tuple[Iterable[Any], ...]) -> dict[str, dict[Any, dict[Any, Any]]]:
    """Counts and ratios per factor level, from :meth:`ParamSweeper.stats`.

    Args:
        stats: the tuple ``(sweeps, remaining, skipped, inprogress, done)``
            of :meth:`ParamSweeper.stats`, whose elements are dicts such as
            those :func:`sweep` returns.

    Returns:
        ``{"total": c, "remaining": c, "remaining_ratio": r, "skipped": c,
        "skipped_ratio": r, "inprogress": c, "inprogress_ratio": r,
        "done": c, "done_ratio": r}`` where ``c[factor][level]`` is a count
        and ``r[factor][level]`` the fraction of the total for that level.
    """
    sweeps, remaining, skipped, inprogress, done = stats
    total = _count(sweeps)
    result: dict[str, dict[Any, dict[Any, Any]]] = {"total": total}
    for name, part in (
        ("remaining", remaining),
        ("skipped", skipped),
        ("inprogress", inprogress),
        ("done", done),
    ):
        counts = _count(part)
        result[name] = counts
        result[f"{name}_ratio"] = _ratios(counts, total)
    return result
