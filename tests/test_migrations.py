"""A migration means the same thing forever: it imports no application code, so a change to a
model function, a storage class or a setting never changes what an old migration does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = {path.parent.name for path in ROOT.glob("*/__init__.py")}


def migration_files() -> list[Path]:
    return sorted(
        path
        for config in apps.get_app_configs()
        if Path(config.path).is_relative_to(ROOT)
        for path in (Path(config.path) / "migrations").glob("[0-9]*.py")
    )


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))
    return names


def test_there_are_migrations_to_check() -> None:
    files = migration_files()
    assert {path.parent.parent.name for path in files} >= {"cases", "ledgers", "reminders", "audit"}


@pytest.mark.parametrize(
    "path", migration_files(), ids=lambda path: f"{path.parent.parent.name}/{path.name}"
)
def test_a_migration_imports_no_application_code(path: Path) -> None:
    ours = {
        name
        for name in imported_modules(path)
        if name.startswith(".") or name.split(".")[0] in OUR_PACKAGES
    }
    assert not ours, f"{path.relative_to(ROOT)} imports {sorted(ours)}"


@pytest.mark.django_db
def test_file_fields_keep_their_storage_out_of_migrations_without_a_pending_change() -> None:
    # The fields still store through the application's storage at run time...
    evidence = apps.get_model("cases", "Evidence")._meta.get_field("file")
    export = apps.get_model("ledgers", "ExportJob")._meta.get_field("file")
    assert type(evidence.storage).__name__ == "EvidenceStorage"
    assert type(export.storage).__name__ == "LedgerStorage"
    assert callable(evidence.upload_to)
    # ...and the migrations, which record a plain FileField, match the models.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
