"""The shape of the package, read from the source: who imports whom.

Every module of biller_server (with config/ and migrations/, installed as biller_server.config and
biller_server.migrations) is parsed with ``ast``; each import of a biller_server module, at the top of a module or
inside a function, is an edge of the import graph. The graph must have no cycle, the domain must import no layer
that sits on top of it, and no import of a biller_server module may hide inside a function (the usual way to
dodge a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> the package it is installed as (pyproject.toml's package-dir).
SOURCE_ROOTS = {
    ROOT / "biller_server": "biller_server",
    ROOT / "config": "biller_server.config",
    ROOT / "migrations": "biller_server.migrations",
}
# What the domain may never import: the layers that call it, and the partner clients.
ABOVE_THE_DOMAIN = (
    "biller_server.channels",
    "biller_server.cli",
    "biller_server.clients",
    "biller_server.http",
    "biller_server.jobs",
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool


def _module_name(path: Path, source: Path, package: str) -> str:
    parts = path.relative_to(source).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


@cache
def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for source, package in SOURCE_ROOTS.items():
        for path in sorted(source.rglob("*.py")):
            modules[_module_name(path, source, package)] = path
    return modules


def _is_package(name: str) -> bool:
    return _modules()[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The biller_server module an import of ``name`` runs: itself, or the nearest package above it."""
    while name:
        if name in _modules():
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        package = importer if _is_package(importer) else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        # ``from package import module`` imports the module; ``from module import name`` the module itself.
        yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in _modules() else base


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


@cache
def _imports() -> tuple[Import, ...]:
    found: dict[Import, None] = {}  # in source order, each once
    for importer, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _walk(tree):
            for target in _targets(node, importer):
                imported = _resolve(target) if target.startswith("biller_server") else None
                if imported is not None and imported != importer:
                    found[Import(importer, imported, node.lineno, in_function)] = None
    return tuple(found)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in _modules()}
    for each in _imports():
        graph[each.importer].add(each.imported)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_is_read_from_the_real_source():
    # Guards the checks below against passing on an empty or misread graph.
    graph = _graph()
    assert len(graph) > 50
    assert "biller_server.http.channels" in graph["biller_server.app"]
    assert "biller_server.persistence.models" in graph["biller_server.jobs.queue"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_modules():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_domain_imports_no_layer_above_it():
    wrong = [
        f"{each.importer} imports {each.imported} (line {each.line})"
        for each in _imports()
        if each.importer.startswith("biller_server.domain") and each.imported.startswith(ABOVE_THE_DOMAIN)
    ]
    assert not wrong, "the domain imports a layer above it:\n" + "\n".join(wrong)


def test_no_biller_server_module_is_imported_inside_a_function():
    deferred = [
        f"{each.importer} imports {each.imported} (line {each.line})" for each in _imports() if each.in_function
    ]
    assert not deferred, "imports inside a function:\n" + "\n".join(deferred)


# -- Validation patterns match whole (issue 13, class 6) ----------------------------------------------------------

# The functions that take a pattern first: re's own, and marshmallow's Regexp validator (which only matches a prefix).
_PATTERN_TAKERS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer", "Regexp"}
_BARE_DOLLAR = r"(?<!\\)\$"


def _pattern_literals(tree: ast.AST) -> Iterator[tuple[str, int, str | bytes]]:
    """(function, line, pattern) for each literal pattern given to one of ``_PATTERN_TAKERS``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        first = node.args[0]
        if name in _PATTERN_TAKERS and isinstance(first, ast.Constant) and isinstance(first.value, str | bytes):
            yield name, node.lineno, first.value


def _pattern_problems(source: str, where: str) -> list[str]:
    import re

    problems = []
    for name, line, pattern in _pattern_literals(ast.parse(source)):
        text = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
        if name == "Regexp":
            problems.append(f"{where}:{line}: marshmallow's Regexp matches a prefix; validate with re.fullmatch")
        elif re.search(_BARE_DOLLAR, text):
            problems.append(f"{where}:{line}: {text!r} ends at '$', which lets a final newline through; use fullmatch")
    return problems


def test_the_pattern_check_catches_what_it_is_for():
    caught = _pattern_problems(
        'import re\nA = re.compile(r"^[A-Za-z0-9]{1,35}$")\nB = re.match("^x$", y)\n'
        'C = validate.Regexp(r"[a-z]+")\nD = re.compile(r"[0-9]+\\$")\nE = re.fullmatch(r"[0-9]+", y)\n',
        "example.py",
    )
    assert [problem.split(":")[1] for problem in caught] == ["2", "3", "4"]


def test_no_validation_pattern_ends_at_dollar():
    """ "NL1\\n" passed ^[A-Za-z0-9]{1,35}$ and became part of a job's key: patterns match whole (re.fullmatch or
    \\Z), never up to '$'. JSON Schema patterns written for the OpenAPI document only (ECMA-262 has no \\Z) are
    plain strings, not given to re, and are not concerned."""
    seen = 0
    problems: list[str] = []
    for path in _modules().values():
        source = path.read_text(encoding="utf-8")
        seen += sum(1 for _ in _pattern_literals(ast.parse(source)))
        problems += _pattern_problems(source, str(path.relative_to(ROOT)))
    assert seen > 30  # the walk finds the package's patterns at all
    assert problems == []
