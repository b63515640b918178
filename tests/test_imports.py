"""The stages meet at public doors: no package imports another's private names, and no module imports itself round a
circle (lazy imports inside functions count: they are the same dependency, paid later). Reads the source only."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path):
    """(line, imported module, name or None, [local alias]) for every import in a module, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node, path.name == "__init__.py")
            for alias in node.names:
                yield node.lineno, source, alias.name, alias.asname or alias.name


def _package(module: str) -> str:
    return module.split(".")[0]


def private_crossings(modules: dict[str, Path], packages=PACKAGES, root: Path = ROOT) -> list[str]:
    """`from other.mod import _name` and `other_mod._name` where other is another of the project's packages."""
    found = []
    for module, path in modules.items():
        aliases = {}
        for line, source, name, local in _imports(module, path):
            if _package(source) not in packages or _package(source) == _package(module):
                continue
            target = f"{source}.{name}" if name else source
            if name and name.startswith("_"):
                found.append(f"{path.relative_to(root)}:{line}: from {source} import {name}")
            if target in modules or not name:
                aliases[local] = target
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                dotted = _dotted(node.value)
                if dotted and dotted.split(".")[0] in aliases:
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {dotted}.{node.attr}")
    return found


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (a `from pkg import mod` counts as importing pkg.mod)."""
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        for _line, source, name, _local in _imports(module, path):
            for target in (f"{source}.{name}" if name else None, source):
                if target in modules and target != module:
                    graph[module].add(target)
                    break
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_package_imports_another_packages_private_names():
    found = private_crossings(_modules())
    assert not found, "private names used across packages (make them public where they are defined):\n" + \
        "\n".join(found)


def test_no_import_circle_among_the_projects_modules():
    modules = _modules()
    assert {"core.config", "extract.classify", "eval.report"} <= set(modules)
    found = cycles(import_graph(modules))
    assert not found, f"import circles: {found}"


def test_the_checks_see_a_private_crossing_and_a_circle(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mod.py").write_text("from pkg.a import x\n")
    (tmp_path / "pkg" / "a.py").write_text("from other.mod import _secret, public\nimport other.mod as m\n"
                                           "from . import _own\nm._x()\nm.y()\n")
    found = private_crossings({"pkg.a": tmp_path / "pkg" / "a.py", "other.mod": tmp_path / "other" / "mod.py"},
                              packages=("pkg", "other"), root=tmp_path)
    assert found == ["pkg/a.py:1: from other.mod import _secret", "pkg/a.py:4: m._x"]
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]
