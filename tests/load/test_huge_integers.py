"""A 5,000-digit integer in a spec gave Python's `sys.set_int_max_str_digits()` message at 1:1
and dropped the file's later documents (issue 23): it is YAML_VALUE at the value, and every
other document is still read and checked."""

from __future__ import annotations

import pytest

from compiler.core.errors import LoadError
from compiler.core.load import MAX_INT_DIGITS, load_json, load_yaml
from tests.conftest import run_cli
from tests.helpers import line_col, md_yaml

HUGE = "9" * 5000


def test_a_huge_integer_is_a_diagnostic_at_its_value_and_later_documents_are_checked(make_repo):
    text = "\n---\n".join(
        [md_yaml("first"), f"apiVersion: v1\nkind: X\nn: {HUGE}\n", md_yaml("w", resources={})]
    )
    repo = make_repo({"deployments/a.yaml": text})
    result = run_cli("check", repo, "--no-cache")
    assert result.exit_code == 1
    line, column = line_col(text, HUGE)
    assert (
        f"deployments/a.yaml:{line}:{column}: error[YAML_VALUE]: n: integer of 5000 digits is "
        f"too large (at most {MAX_INT_DIGITS} decimal digits)" in result.stderr
    )
    assert "set_int_max_str_digits" not in result.stderr
    assert "deployments/a.yaml:1:1" not in result.stderr
    # The third document was read: its own error is reported.
    assert "spec.resources" in result.stderr


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("9" * MAX_INT_DIGITS, True),
        ("-" + "9" * MAX_INT_DIGITS, True),
        ("9" * (MAX_INT_DIGITS + 1), False),
        ("0x" + "f" * 20_000, False),  # no conversion limit in base 16, but no way to print it
        ("0x" + "f" * 100, True),
    ],
)
def test_integer_bound(value, ok):
    result = load_yaml(f"a: {value}\n---\nb: 1\n", "f.yaml")
    assert result.documents[-1].data == {"b": 1}
    assert (len(result.documents) == 2) is ok
    if ok:
        str(result.documents[0].data["a"])  # can be written back
    else:
        assert [(d.code, d.location.line, d.location.column) for d in result.diagnostics] == [
            ("YAML_VALUE", 1, 4)
        ]


def test_a_huge_integer_in_json_is_a_load_error():
    with pytest.raises(LoadError, match="integer of 5000 digits is too large"):
        load_json('{"a": ' + HUGE + "}", "https://recipes.example/x.json")
