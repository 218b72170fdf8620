"""docs/reliability.md stays true: every test it names exists, and it covers everything.

Every table row must name at least one test (``tests/<path>.py::<test>``, optionally with
a parametrization id in brackets), and every named test must exist. The page must also
cover every operation of the OpenAPI schema, every ``POLICY_*`` message of the policy
validator and every management command of the project's apps.
"""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands
from drf_spectacular.generators import SchemaGenerator

import worlds.policies

DOC = Path(settings.BASE_DIR) / "docs" / "reliability.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(\[[^`]*\])?`")
PROJECT_APPS = ("worlds", "axes", "ledger", "access")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def table_rows(text: str) -> list[str]:
    """Return the data rows of every Markdown table (no header, no separator)."""
    lines = text.splitlines()
    rows = []
    for index, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"\|[-| :]+\|", line):
            continue
        is_header = index + 1 < len(lines) and re.fullmatch(r"\|[-| :]+\|", lines[index + 1])
        if not is_header:
            rows.append(line)
    return rows


def collected_node_ids(files: set[str]) -> set[str]:
    """Return the node ids pytest collects from ``files``, as ``pytest --collect-only``."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *sorted(files)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return {line.strip() for line in completed.stdout.splitlines() if "::" in line}


def test_every_table_row_names_a_test(doc):
    rows = table_rows(doc)

    assert len(rows) > 100
    missing = [row[:120] for row in rows if not TEST_REFERENCE.search(row)]
    assert missing == [], "rows naming no test"


def test_every_named_test_exists(doc):
    references = TEST_REFERENCE.findall(doc)
    assert references

    missing = []
    for path, name, _ in references:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        if not callable(getattr(module, name, None)):
            missing.append(f"{path}::{name}")
    assert missing == [], "tests named in docs/reliability.md that do not exist"

    parametrized = {f"{path}::{name}{case}" for path, name, case in references if case}
    collected = collected_node_ids({path for path, _, case in references if case})
    assert sorted(parametrized - collected) == [], "parametrized cases that do not exist"


def test_every_api_operation_has_a_section(doc):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        f"`{method.upper()} {path}`"
        for path, methods in schema["paths"].items()
        for method in methods
    ]

    assert len(operations) >= 7
    assert [operation for operation in operations if operation not in doc] == []


def test_every_policy_message_has_a_row(doc):
    messages = [name for name in dir(worlds.policies) if name.startswith("POLICY_")]
    for module in ("loader", "validation", "yaml_source"):
        policy_module = importlib.import_module(f"worlds.policies.{module}")
        messages += [name for name in vars(policy_module) if name.startswith("POLICY_")]

    assert len(set(messages)) > 30
    assert sorted({name for name in messages if f"`{name}`" not in doc}) == []


def test_every_management_command_has_a_section(doc):
    commands = [
        name
        for name, app in get_commands().items()
        if app in PROJECT_APPS or app.split(".")[0] in PROJECT_APPS
    ]

    assert {"sync_policies", "verify_ledger", "rebuild_scores"} <= set(commands)
    assert [name for name in commands if f"### `{name}`" not in doc] == []
