"""The package rules of the design, checked on the source so a violation fails CI."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parent.parent / "portal"
FEATURES = {"accounts", "kb", "chat", "tickets", "metrics"}


def _imports() -> list[tuple[Path, str]]:
    found = []
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
                # `from portal.kb import services` names the submodule in the alias.
                found += [(path, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _package_of(path: Path) -> str | None:
    parts = path.relative_to(PORTAL).parts
    return parts[0] if len(parts) > 1 else None


def test_features_use_each_other_only_through_services():
    violations = []
    for path, module in _imports():
        parts = module.split(".")
        if parts[0] != "portal" or len(parts) < 3 or parts[1] not in FEATURES:
            continue
        owner, target = _package_of(path), parts[1]
        if owner in (None, "core") or owner == target:
            continue
        if parts[2] not in {"services", "decorators", "models"} or (
            parts[2] == "models" and target != "accounts"
        ):
            violations.append(f"{path.relative_to(PORTAL)} imports {module}")
    assert not violations, "\n".join(violations)


def test_dependency_directions():
    forbidden = {
        ("kb", "chat"), ("tickets", "chat"),
        ("kb", "metrics"), ("tickets", "metrics"), ("chat", "metrics"), ("accounts", "metrics"),
        ("core", "metrics"),
        # The copilot sits above tickets and chat: they reach it only through what it
        # registers (the ticket page's partial, the tone scorer).
        ("kb", "copilot"), ("tickets", "copilot"), ("chat", "copilot"), ("accounts", "copilot"),
    }
    violations = [
        f"{path.relative_to(PORTAL)} imports {module}"
        for path, module in _imports()
        if module.startswith("portal.")
        and (_package_of(path), module.split(".")[1]) in forbidden
    ]
    assert not violations, "\n".join(violations)


def _modules_importing(library: str) -> set[str]:
    return {
        str(path.relative_to(PORTAL))
        for path, module in _imports()
        if module == library or module.startswith(library + ".")
    }


def test_each_third_party_client_lives_in_one_module():
    assert _modules_importing("meilisearch") <= {"kb/engine.py"}
    assert _modules_importing("htmx_flask") == {"web.py"}
    openai_users = _modules_importing("openai")
    assert len(openai_users) <= 1 and all(p.startswith("chat/") for p in openai_users)


def test_the_factory_module_holds_only_create_app():
    tree = ast.parse((PORTAL / "__init__.py").read_text())
    definitions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert definitions == ["create_app"]


def _module_name(path: Path) -> str:
    parts = ("portal", *path.relative_to(PORTAL).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_cycle(package: str) -> list[str]:
    """One chain of modules in `package` importing each other in a circle (even inside a
    function), or []; `from portal.x import mod` counts as an import of mod only."""
    modules = {_module_name(path): path for path in PORTAL.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if not name.startswith(package + "."):
            continue
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named = {f"{node.module}.{alias.name}" for alias in node.names}
                found = named & modules.keys()
                targets |= found or ({node.module} - {package})
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {target for target in targets if target in modules and target != name}

    def walk(name: str, chain: list[str]) -> list[str]:
        for target in sorted(graph.get(name, ())):
            if target in chain:
                return [*chain[chain.index(target):], target]
            found = walk(target, [*chain, target])
            if found:
                return found
        return []

    for start in sorted(graph):
        cycle = walk(start, [start])
        if cycle:
            return cycle
    return []


def test_ticket_modules_import_each_other_without_a_circle():
    assert _import_cycle("portal.tickets") == []
