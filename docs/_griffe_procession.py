"""Griffe extension for the API reference (loaded by mkdocs.yml, not shipped).

Two things mkdocstrings does not do on its own with procession's sources:

1. Sphinx roles. The docstrings are Google style, but cross-references are
   written the Sphinx way (``:class:`Process```, ``:meth:`expect```), because
   Sphinx-napoleon must render them too (style.md, convention 14). Here a
   role whose target is a public name of ``procession`` becomes an autorefs
   link to its reference entry; any other role becomes inline code.

2. State attributes documented outside ``__init__``. ``ProcessBase`` (re)sets
   its state in ``_init_state()`` (called by ``__init__`` and ``reset()``)
   with a docstring under each ``self.x = ...``; griffe only collects
   instance attributes from ``__init__``. Documented assignments to ``self``
   in any method are added to the class when it does not define them yet.
"""

from __future__ import annotations

import ast
import itertools
import pathlib
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj|const):`(~?)([^`]+)`")


def _public_names() -> set[str]:
    # Parsed, not imported: building the docs must not run procession's
    # import-time code (config file loading, log handler).
    init = pathlib.Path(__file__).resolve().parents[1] / "src" / "procession" / "__init__.py"
    tree = ast.parse(init.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


class ProcessionDocs(griffe.Extension):
    """Rewrite Sphinx roles and collect state attributes (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.public = _public_names()

    # ------------------------------------------------------------ roles
    def _role(self, match: re.Match[str]) -> str:
        target = match.group(2).strip()
        short = target.rsplit(".", 1)[-1]
        name = target.removeprefix("procession.")
        shown = short if match.group(1) == "~" or "." not in name else name
        if name in self.public:
            return f"[`{shown}`][procession.{name}]"
        return f"`{shown}`"

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the roles of each object's docstring."""
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = _ROLE.sub(self._role, obj.docstring.value)

    # -------------------------------------------------- state attributes
    def on_class_members(self, *, node: ast.AST | griffe.ObjectNode, cls: griffe.Class,
                         **kwargs: Any) -> None:  # fmt: skip
        """Add documented ``self.x = ...`` of non-``__init__`` methods."""
        if not isinstance(node, ast.ClassDef):
            return
        for method in node.body:
            if not isinstance(method, ast.FunctionDef) or method.name == "__init__":
                continue
            body = method.body
            for stmt, nxt in itertools.pairwise(body):
                self._add_attribute(cls, stmt, nxt)

    def _add_attribute(self, cls: griffe.Class, stmt: ast.stmt, nxt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, annotation = stmt.targets[0], None
        elif isinstance(stmt, ast.AnnAssign):
            target, annotation = stmt.target, ast.unparse(stmt.annotation)
        else:
            return
        if not (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            return
        if target.attr.startswith("_") or target.attr in cls.members:
            return
        text = _ROLE.sub(self._role, griffe.Docstring(nxt.value.value).value)
        attribute = griffe.Attribute(
            name=target.attr,
            annotation=annotation,
            lineno=stmt.lineno,
            endlineno=stmt.end_lineno,
            docstring=griffe.Docstring(text, lineno=nxt.lineno, endlineno=nxt.end_lineno),
        )
        attribute.labels.add("instance-attribute")
        cls.set_member(target.attr, attribute)
