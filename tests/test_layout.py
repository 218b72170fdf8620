"""The import rule of the layout (README, "Layout"): data flows one way between the apps.

- ``pipeworks``' shared modules (all but the settings, urls and server entry points, which
  wire the apps together) import no app;
- ``axes`` and ``ledger`` import from ``worlds`` only its models and its pure policy
  package; ``axes`` imports nothing from ``ledger``;
- only the top of ``worlds`` (services, admin, views, demo) imports ``ledger``;
- ``access`` imports from ``worlds`` only its models and nothing from ``axes`` or
  ``ledger``; of ``ledger`` and ``worlds`` only the top modules import ``access``, and
  ``axes`` does not.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("access", "axes", "ledger", "worlds")
PROJECT_WIRING = {"settings.py", "urls.py", "wsgi.py", "asgi.py"}
WORLDS_LOWER = ("worlds.models", "worlds.policies")
WORLDS_TOP = ("worlds/services", "worlds/admin", "worlds/views.py", "worlds/demo.py")
# The interfaces of the ledger and what they call: the modules that may ask ``access``
# who may do what (its models and lower plumbing may not).
LEDGER_TOP = (
    "ledger/services",
    "ledger/selectors.py",
    "ledger/views.py",
    "ledger/serializers.py",
    "ledger/urls.py",
    "ledger/admin.py",
)


def modules(package: str) -> list[Path]:
    return sorted(
        path
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and "__pycache__" not in path.parts
    )


def imported(path: Path) -> set[str]:
    """Return the dotted names ``path`` imports, at any depth of the module."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, packages) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def violations(paths, allowed) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in sorted(imported(path))
        if not allowed(path, name)
    ]


def test_the_shared_project_modules_import_no_app():
    shared = [path for path in modules("pipeworks") if path.name not in PROJECT_WIRING]
    assert {path.name for path in shared} >= {"admin.py", "api.py", "serializers.py", "apps.py"}
    assert violations(shared, lambda path, name: not within(name, APPS)) == []


@pytest.mark.parametrize("app", ["axes", "ledger"])
def test_axes_and_ledger_import_only_the_models_and_policies_of_worlds(app):
    def allowed(path, name):
        return not within(name, ["worlds"]) or within(name, WORLDS_LOWER)

    assert violations(modules(app), allowed) == []


def test_axes_imports_nothing_from_the_ledger():
    assert violations(modules("axes"), lambda path, name: not within(name, ["ledger"])) == []


def test_only_the_top_of_worlds_imports_the_ledger():
    def allowed(path, name):
        top = str(path.relative_to(ROOT)).startswith(WORLDS_TOP)
        return top or not within(name, ["ledger"])

    assert violations(modules("worlds"), allowed) == []


def test_the_rule_sees_an_import_that_breaks_it(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from ledger.services import apply_event\n")

    assert imported(module) == {"ledger.services.apply_event"}


def test_access_imports_only_the_models_of_worlds_and_nothing_of_axes_or_the_ledger():
    def allowed(path, name):
        if within(name, ["axes", "ledger"]):
            return False
        return not within(name, ["worlds"]) or within(name, ["worlds.models"])

    assert violations(modules("access"), allowed) == []


def test_only_the_top_of_ledger_and_worlds_imports_access():
    def allowed(path, name):
        top = str(path.relative_to(ROOT)).startswith(WORLDS_TOP + LEDGER_TOP)
        return top or not within(name, ["access"])

    assert violations(modules("axes") + modules("ledger") + modules("worlds"), allowed) == []
