"""The code's shape: no import cycle, and the destination layer never imports the sync layer above it.

The package (``plugins/hrflow_airflow``) and the sandbox (``sandbox/``) are held to the same rules: no module over
350 lines and no function over 60. The package raises its own errors, never a plain ``ValueError`` or
``LookupError``. In every tree of the repository (``dags/``, ``tests/`` and ``bench/`` too) there is no import cycle
(not even through an import inside a function or a TYPE_CHECKING block), and ``# fmt: skip`` only keeps a data
table's rows.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "plugins" / "hrflow_airflow"
SANDBOX = REPO / "sandbox"
DAGS = REPO / "dags"
ROOTS = (PACKAGE, SANDBOX)  # the code the size and private-name rules hold
# every tree of Python in the repository, with the directory its modules are imported from (a DAG file: by its name)
TREES = {PACKAGE: PACKAGE.parent, SANDBOX: REPO, DAGS: DAGS, REPO / "tests": REPO, REPO / "bench": REPO}


def module_name(path: Path) -> str:
    base = next(base for tree, base in TREES.items() if path.is_relative_to(tree))
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def files(trees: Iterable[Path]) -> list[Path]:
    return [path for tree in trees for path in sorted(tree.rglob("*.py"))]


TOP_LEVEL = {module_name(path).split(".")[0] for path in files(TREES)}  # hrflow_airflow, sandbox, tests, a DAG...


def ours(module: str) -> bool:
    return module.split(".")[0] in TOP_LEVEL


def imports(path: Path) -> set[str]:
    """Return the modules of ours ``path`` imports anywhere (top level, functions, TYPE_CHECKING blocks)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and ours(node.module):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if ours(alias.name))
    return found


def sources() -> list[Path]:
    return files(ROOTS)


def graph(trees: Iterable[Path] = ROOTS) -> dict[str, set[str]]:
    """Return each module of ``trees`` with the modules of ``trees`` it imports."""
    modules = {module_name(p): p for p in files(trees)}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_walk_sees_the_package_and_the_sandbox():
    edges = graph()
    assert "hrflow_airflow.destinations.per_object" in edges
    assert "hrflow_airflow.hooks.http" in edges["hrflow_airflow.destinations.per_object"]
    assert "sandbox.accounts" in edges["sandbox.greenhouse"]
    assert "sandbox.server" in edges["sandbox.__main__"]


def test_the_walk_over_the_repository_sees_the_dags_the_tests_and_the_benches():
    edges = graph(TREES)
    assert "hrflow_airflow.sync.tasks" in edges["hrflow_profiles_to_ats"]  # a DAG file: a module of its own name
    assert "tests.conftest" in edges["tests.plugins.hrflow_airflow.ledger.conftest"]
    assert "tests.dags.test_erasure" in edges["tests.dags.test_ashby"]
    assert {"bench.common", "bench.baseline_sequential", "sandbox.airflow_home"} <= edges["bench.sync_bench"]


def test_an_import_inside_a_function_is_an_edge(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("def make():\n    from sandbox.registry import VENDORS\n    return VENDORS\n")
    assert "sandbox.registry" in imports(module)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the import cycles of ``edges`` (depth-first, each found once)."""
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target] if target in path else [node, target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    # the accounts importing the registry, which imports the emulators, which import the accounts
    lazy = {"sandbox.accounts": {"sandbox.registry"}, "sandbox.registry": {"sandbox.lever"}}
    assert find_cycles({**lazy, "sandbox.lever": {"sandbox.accounts"}}) == [
        ["sandbox.accounts", "sandbox.registry", "sandbox.lever", "sandbox.accounts"]
    ]


def test_no_import_cycle():
    """Over the whole repository: the package, the sandbox, the DAG files, the tests and the benches."""
    edges = graph(TREES)
    # a package's __init__ re-exporting its modules is not a cycle of code: only module-to-module edges count
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in edges.items()}
    assert find_cycles(edges) == []


def test_no_module_imports_another_modules_private_names():
    """What two modules share is public: a leading underscore means "this module's own"."""
    private = {
        f"{module_name(path)} <- {node.module}.{alias.name}"
        for path in sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and ours(node.module)
        for alias in node.names
        if alias.name.startswith("_")
    }
    assert private == set()


def upward(lower: str, *upper: str) -> set[tuple[str, str]]:
    """Return the imports from a module under ``lower`` of a module under one of ``upper``."""
    return {(m, t) for m, ts in graph().items() if m.startswith(lower) for t in ts if t.startswith(upper)}


# the top of the package: what every flow shares, and the erasure (one module); a flow's modules sit in its package
SHARED = {
    "__init__": "get_provider_info and the version",
    "candidate": "the whole candidate (CV, applications, custom fields) the destinations and the sync read",
    "dates": "HrFlow's and the ATSs' date formats, read by hooks, destinations and the sync",
    "erasure": "the erasure flow: one module, beside the sync (sync/) and the event path (events/)",
    "errors": "the one error tree and fails_fast",
    "forms": "connection-form declarations of the hooks and the destinations",
    "monitoring": "a re-export: deadlines stored before the layout by flow name the alert notifier by this path",
    "mapping": "field maps and the record projection: the sync, the destinations and preview",
    "objects": "the object kinds (profile, job), everywhere",
    "plugin": "the AirflowPlugin mounting events/ and ui/",
    "preview": "python -m hrflow_airflow.preview: a profile's records, read from the sync's maps and the adapters",
    "sealed": "sealed XCom values and the record hash: the sync, the events, the ledger, the destinations",
    "settings": "[hrflow] settings, read by every flow",
}
FLOWS = {"sync", "events", "ledger", "destinations", "hooks", "alerts", "ui"}  # a package each


def test_the_top_of_the_package_holds_only_shared_modules_and_the_flows_packages():
    """A module of one flow added at the top fails: it goes in its flow's package (docs/architecture.md)."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert (modules, packages) == (set(SHARED), FLOWS)


def test_destinations_never_import_the_sync_layer():
    assert upward("hrflow_airflow.destinations", "hrflow_airflow.sync") == set()


def test_hooks_never_import_destinations_or_sync():
    assert upward("hrflow_airflow.hooks", "hrflow_airflow.sync", "hrflow_airflow.destinations") == set()


def test_every_table_is_declared_in_the_ledgers_schema():
    """One schema, one migration: no module builds a table of its own (``ledger/history.py`` is the schema's)."""
    declared_in = {"ledger/schema.py", "ledger/history.py"}
    builders = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Table"
    }
    assert builders <= declared_in and "ledger/schema.py" in builders


DECLARATIONS = {"get_provider_info"}  # Param and provider declarations: long by nature


def test_modules_and_functions_stay_small():
    """
    No module over 350 lines, no function over 60 (declarations aside), in the package and the sandbox alike: each
    reads as one idea.
    """
    big_modules = {str(p.relative_to(REPO)): n for p in sources() if (n := len(p.read_text().splitlines())) > 350}
    long_functions = {
        f"{p.relative_to(REPO)}:{node.name}": node.end_lineno - node.lineno + 1
        for p in sources()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60
        and node.name not in DECLARATIONS
    }
    assert (big_modules, long_functions) == ({}, {})


def test_every_error_the_package_defines_has_one_root():
    import importlib
    import inspect

    from hrflow_airflow.errors import HrFlowAirflowError

    rootless = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.endswith("plugin") or name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            defined_here = inspect.isclass(value) and value.__module__ == name
            if defined_here and issubclass(value, BaseException) and not issubclass(value, HrFlowAirflowError):
                rootless.append(f"{name}.{attr}")
    assert rootless == []


BUILTIN_ERRORS = {"ValueError", "LookupError", "KeyError", "IndexError"}


def plain_raises(tree: ast.AST, caught: frozenset[str] = frozenset()) -> list[int]:
    """
    Return the lines of ``tree`` raising a builtin error (:data:`BUILTIN_ERRORS`) that leaves its function: no
    ``try`` of the same function around the raise catches it by name.
    """
    if isinstance(tree, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
        caught = frozenset()  # a function's own handlers only
    if isinstance(tree, ast.Raise) and tree.exc is not None:
        raised = tree.exc.func if isinstance(tree.exc, ast.Call) else tree.exc
        name = raised.id if isinstance(raised, ast.Name) else None
        return [tree.lineno] if name in BUILTIN_ERRORS and name not in caught else []
    if isinstance(tree, ast.Try | ast.TryStar):
        types = [h.type for h in tree.handlers if h.type is not None]
        handled = {
            n.id for t in types for n in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(n, ast.Name)
        }
        lines = [line for node in tree.body for line in plain_raises(node, caught | handled)]
        rest = [*tree.handlers, *tree.orelse, *tree.finalbody]
        return lines + [line for node in rest for line in plain_raises(node, caught)]
    return [line for node in ast.iter_child_nodes(tree) for line in plain_raises(node, caught)]


def test_the_raise_scan_sees_what_leaves_a_function():
    source = (
        "def leaves(x):\n    raise ValueError(x)\n"
        "def kept(x):\n    try:\n        raise KeyError(x)\n    except (KeyError, TypeError):\n        return None\n"
        "def handler(x):\n    try:\n        pass\n    except OSError:\n        raise LookupError\n"
    )
    assert plain_raises(ast.parse(source)) == [2, 12]


def test_no_plain_value_or_lookup_error_leaves_its_module():
    """One error tree: the package raises its own errors (:mod:`hrflow_airflow.errors`); ``fails_fast`` converts."""
    plain = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "errors.py"
        for line in plain_raises(ast.parse(path.read_text()))
    }
    assert plain == set()


def data_table(node: ast.AST) -> bool:
    """Return True for a list, tuple, set or dict display, or a call of displays alone (``frozenset({...})``)."""
    if isinstance(node, ast.Call):
        return bool(node.args) and not node.keywords and all(data_table(arg) for arg in node.args)
    return isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict)


def skips_off_tables(text: str) -> list[int]:
    """Return the lines whose ``# fmt: skip`` ends something else than a data table (a call, an assert, a loop...)."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    lines = {t.start[0] for t in tokens if t.type == tokenize.COMMENT and t.string == "# fmt: skip"}
    ending: dict[int, ast.AST] = {}  # the widest expression ending on each such line
    for node in ast.walk(ast.parse(text)):  # breadth first: what holds an expression comes before it
        if isinstance(node, ast.expr) and node.end_lineno in lines:
            if node.end_lineno not in ending or node.lineno < ending[node.end_lineno].lineno:
                ending[node.end_lineno] = node
    return sorted(line for line in lines if not data_table(ending.get(line)))


def test_the_skip_scan_tells_a_data_table_from_code():
    source = (
        "NAMES = (\n    'a', 'b',\n)  # fmt: skip\n"
        "KINDS = frozenset({\n    'x',\n})  # fmt: skip\n"
        "run(\n    'a', check=True,\n)  # fmt: skip\n"
        "assert f(x) == [\n    1, 2,\n]  # fmt: skip\n"
        "if (\n    a and b\n):  # fmt: skip\n    pass\n"
    )
    assert skips_off_tables(source) == [9, 12, 15]


def test_fmt_skip_is_only_on_data_tables():
    """Code is laid out by ``ruff format``: ``# fmt: skip`` keeps a table's rows, never packs code under the caps."""
    found = {
        f"{path.relative_to(REPO)}:{line}"
        for tree in TREES
        for path in sorted(tree.rglob("*.py"))
        for line in skips_off_tables(path.read_text())
    }
    assert found == set()
