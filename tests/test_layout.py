"""The shape of the code: a leading underscore means "used only inside this module"."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

FILES = sorted((ROOT / "lumen_cli").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_private_name_is_used_outside_its_module(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("lumen_cli", "tests")
        ):
            private = [alias.name for alias in node.names if _private(alias.name)]
            assert not private, f"{path.name}:{node.lineno} imports {private} from {node.module}"
    own = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }
    own |= {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    # Other libraries' modules (os._exit, hashlib._Hash) are theirs to name.
    libraries = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if not alias.name.startswith(("lumen_cli", "tests"))
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            mine = isinstance(owner, ast.Name) and owner.id in {"self", "cls", *own, *libraries}
            # A module's own private names may be reached through its own objects.
            assert mine or node.attr in own, f"{path.name}:{node.lineno}: {ast.unparse(node)}"
