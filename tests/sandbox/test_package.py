"""The sandbox package's shape: its public names, what it may import, no private names shared."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lumen_cli.sandbox
from tests.support import ROOT

PACKAGE = ROOT / "lumen_cli" / "sandbox"
MODULES = sorted(PACKAGE.glob("*.py"))

# What the sandbox may use of the rest of lumen: None means any name.
SIGNING = frozenset({"SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign"})
ALLOWED: dict[str, frozenset[str] | None] = {
    "lumen_cli": frozenset({"__version__"}),
    "lumen_cli.net": None,
    "lumen_cli.media": None,
    "lumen_cli.fsutil": None,
    "lumen_cli.serving": None,
    "lumen_cli.webhook.protocol": SIGNING,
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _lumen_imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every import of a ``lumen_cli`` module (names empty: whole)."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "lumen_cli":
                found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "lumen_cli"]
    return found


def test_public_names_are_importable() -> None:
    assert set(lumen_cli.sandbox.__all__) == {
        "SANDBOX_KEY", "Fault", "FaultSet", "SandboxConfig", "SandboxServer",
        "SandboxStateError", "blob_bytes",
    }  # fmt: skip
    for name in lumen_cli.sandbox.__all__:
        assert getattr(lumen_cli.sandbox, name) is not None
    with pytest.raises(AttributeError):
        _ = lumen_cli.sandbox.nothing_here


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_sandbox_imports_only_the_bottom_of_lumen(path: Path) -> None:
    for module, names in _lumen_imports(ast.parse(path.read_text())):
        if module == "lumen_cli.sandbox" or module.startswith("lumen_cli.sandbox."):
            continue
        assert module in ALLOWED, f"{path.name} imports {module}"
        allowed = ALLOWED[module]
        assert names, f"{path.name}: import names from {module}, not the module"
        if allowed is not None:
            assert set(names) <= allowed, f"{path.name} imports {names} from {module}"
