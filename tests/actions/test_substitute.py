"""Substitutions, pure: {{{host}}}, {{expr}} in the caller's frame, errors."""

from __future__ import annotations

import pytest

from procession import SubstitutionError, quote
from procession._actions._substitute import caller_context, check_expressions, substitute

HOSTS = ["h1", "h2", "h3"]


def test_host_and_expression_substitutions() -> None:
    ports = [10, 20]  # noqa: F841 - read by {{ports}} through the frame
    ctx = caller_context()
    out = [substitute("{{{host}}}:{{ports}}", HOSTS, i, ctx) for i in range(3)]
    assert out == ["h1:10", "h2:20", "h3:10"]  # index % len(expr)


def test_expression_sees_locals_and_globals() -> None:
    offset = 5  # noqa: F841 - read by {{...}} through the frame
    ctx = caller_context()
    assert substitute("{{[x + offset for x in (1, 2)]}}", HOSTS, 1, ctx) == "7"
    assert substitute("{{HOSTS}}", HOSTS, 2, ctx) == "h3"


def test_values_are_inserted_as_given_and_quote_helps() -> None:
    names = ["a b; rm -rf /"]
    ctx = caller_context()
    assert substitute("echo {{names}}", HOSTS, 0, ctx) == "echo a b; rm -rf /"
    quoted = [quote(n) for n in names]  # noqa: F841 - read by {{quoted}}
    ctx = caller_context()
    assert substitute("echo {{quoted}}", HOSTS, 0, ctx) == "echo 'a b; rm -rf /'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{undefined_name}}", r"\{\{undefined_name\}\} could not be evaluated: NameError"),
        ("{{1/0}}", r"ZeroDivisionError"),
        ("{{42}}", r"must evaluate to a sequence .*int 42"),
        ("{{'abc'}}", r"must evaluate to a sequence"),
        ("{{[]}}", r"empty sequence"),
    ],
)
def test_bad_expressions_are_named(text: str, message: str) -> None:
    with pytest.raises(SubstitutionError, match=message):
        check_expressions(text, caller_context())


def test_no_substitution_leaves_text_alone() -> None:
    assert substitute("echo {x} }}{{", HOSTS, 0, caller_context()) == "echo {x} }}{{"
