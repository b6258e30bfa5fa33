"""The public face of procession.engine: names, docstrings, module paths, layering."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from procession import engine

EXECO_NAMES = {
    "Engine",
    "sweep",
    "ParamSweeper",
    "HashableDict",
    "geom",
    "igeom",
    "sweep_stats",
    "slugify",
    "redirect_outputs",
    "copy_outputs",
    "logger",
}
ADDITIONS = {
    "BagStats",
    "ClusterEngine",
    "Progress",
    "Results",
    "StateCorrupted",
    "SweepCounts",
    "format_progress",
    "run_on_clusters",
}
SOURCE = Path(engine.__file__).parent


def test_all_is_the_execo_contract_plus_the_additions() -> None:
    assert set(engine.__all__) == EXECO_NAMES | ADDITIONS
    assert len(engine.__all__) == len(set(engine.__all__))


def test_every_public_name_and_method_is_documented_under_the_public_module() -> None:
    for name in engine.__all__:
        obj = getattr(engine, name)
        if name == "logger":  # a logging.Logger instance, named for the engine
            assert obj.name == "procession.engine"
            continue
        assert inspect.getdoc(obj), name
        assert obj.__module__ == "procession.engine", name
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    assert inspect.getdoc(member), f"{name}.{attr}"


def test_the_engine_imports_only_the_public_procession_api() -> None:
    for path in SOURCE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == "procession":
                    assert parts == ["procession"] or parts[:2] == ["procession", "engine"], (
                        f"{path.name} imports {node.module}"
                    )
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("procession."), f"{path.name}: {alias.name}"
