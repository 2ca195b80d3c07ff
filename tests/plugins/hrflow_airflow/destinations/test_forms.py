"""
One declaration per ATS: every extra a hook reads is a field of its connection form, and ``ADAPTERS``, the provider's
hook modules and its connection forms are generated from the adapter registry.

The extras a hook reads are found in its source: ``extra_dejson.get("name")`` / ``extra_dejson["name"]`` (directly,
or through a local or a property holding ``extra_dejson``) in the classes of its MRO that belong to this package,
and in the package's module-level functions they call (``hooks/http.py:connection_timeout`` reads ``timeout``).
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import FunctionType

import pytest

from hrflow_airflow import get_provider_info
from hrflow_airflow.destinations import ADAPTERS, JSON_BATCH, PER_OBJECT, REGISTRY, declaration, load
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.forms import DECLARED, Form, _evaluate, read_declaration

REPO = Path(__file__).resolve().parents[4]
PACKAGE = "hrflow_airflow"
PER_OBJECT_VENDORS = [path for path in REGISTRY if load(path).engine == PER_OBJECT]


# -- what a hook reads ------------------------------------------------------------------------------
def holds_extras(node: ast.AST, names: set[str], properties: set[str]) -> bool:
    """Return True when ``node`` is ``<x>.extra_dejson``, a local bound to it, or ``self.<property returning it>``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "extra_dejson" or node.attr in properties
    return isinstance(node, ast.Name) and node.id in names


def keys_of(node: ast.AST, loops: dict[str, list[str]]) -> list[str]:
    """Return the extra names a key expression stands for; a key that cannot be told is reported as such."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in loops:  # for key in ("to", "from"): extra.get(key)
        return loops[node.id]
    return [f"<not a literal: {ast.unparse(node)}>"]


def reads_in(tree: ast.AST, properties: set[str]) -> set[str]:
    """Return the extras ``tree`` reads."""
    names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) and node.value.attr == "extra_dejson"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    loops = {
        node.target.id: [e.value for e in node.iter.elts if isinstance(e, ast.Constant)]
        for node in ast.walk(tree)
        if isinstance(node, ast.For)
        and isinstance(node.target, ast.Name)
        and isinstance(node.iter, ast.Tuple | ast.List)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and holds_extras(node.func.value, names, properties)
        ):
            found.update(keys_of(node.args[0], loops))
        elif isinstance(node, ast.Subscript) and holds_extras(node.value, names, properties):
            found.update(keys_of(node.slice, loops))
    return found


def source_tree(obj: object) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(obj)))


def properties_returning_extras(tree: ast.AST) -> set[str]:
    """Return the methods / properties of ``tree`` that return ``<x>.extra_dejson`` (TwilioHook.extra)."""
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        and any(
            isinstance(r, ast.Return) and isinstance(r.value, ast.Attribute) and r.value.attr == "extra_dejson"
            for r in ast.walk(node)
        )
    }


def extras_read(hook: type) -> set[str]:
    """Return every extra ``hook`` reads: its package classes' code and the package functions they call."""
    classes = [c for c in hook.__mro__ if c.__module__.split(".")[0] == PACKAGE]
    trees = [(source_tree(c), sys.modules[c.__module__]) for c in classes]
    properties = set().union(*(properties_returning_extras(tree) for tree, _ in trees))
    found: set[str] = set()
    seen: set[FunctionType] = set()
    while trees:
        tree, module = trees.pop()
        found |= reads_in(tree, properties)
        for node in ast.walk(tree):  # module-level functions of the package called here
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                target = vars(module).get(node.func.id)
                ours = isinstance(target, FunctionType) and target.__module__.split(".")[0] == PACKAGE
                if ours and target not in seen:
                    seen.add(target)
                    trees.append((source_tree(target), sys.modules[target.__module__]))
    return found


def provider_forms() -> dict[str, dict]:
    return {entry["connection-type"]: entry for entry in get_provider_info()["connection-types"]}


def hook_of(entry: dict) -> type:
    module, _, name = entry["hook-class-name"].rpartition(".")
    return load(f"{module}:{name}")


def test_the_scan_sees_reads_through_locals_properties_base_classes_and_helpers():
    greenhouse = load("hrflow_airflow.destinations.greenhouse:GreenhouseHook")
    # user_id through a local, rate_limit in candidate_api.py, timeout in hooks/http.py's connection_timeout
    assert {"user_id", "auth_url", "rate_limit", "timeout"} <= extras_read(greenhouse)
    assert extras_read(load("hrflow_airflow.hooks.api_key:AtsHook")) == {"timeout"}
    twilio = extras_read(load("hrflow_airflow.hooks.twilio:TwilioHook"))  # through the property self.extra
    assert {"from", "to", "messaging_service_sid", "default_region", "account_sid"} <= twilio
    assert not [name for name in twilio if name.startswith("<")]  # for key in ("to", "from"): resolved


@pytest.mark.parametrize("conn_type", sorted(provider_forms()))
def test_every_extra_a_hook_reads_is_a_field_of_its_form(conn_type):
    """An extra the code reads but the form lacks cannot be set from the UI (the forms used to hide them)."""
    entry = provider_forms()[conn_type]
    missing = extras_read(hook_of(entry)) - set(entry["conn-fields"])
    assert missing == set(), f"{entry['hook-class-name']} reads extras its form does not show: {sorted(missing)}"


def test_the_extras_removals_and_limits_need_are_form_fields():
    forms = {name: set(entry["conn-fields"]) for name, entry in provider_forms().items()}
    assert {"member_id", "disqualify_reason_id", "job_shortcode", "rate_limit"} <= forms["workable"]
    assert {"perform_as", "archive_reason_id", "rate_limit"} <= forms["lever"]
    assert {"user_id", "auth_url", "rate_limit"} <= forms["greenhouse"]
    assert {"api_version", "rate_limit"} <= forms["teamtailor"]
    assert {"rate_limit"} <= forms["smartrecruiters"]
    assert all("timeout" in fields for fields in forms.values())
    for path in PER_OBJECT_VENDORS:  # CandidateApiHook.limits() reads rate_limit for every one of them
        assert "rate_limit" in forms[load(path).conn_type], path


# -- generated from the registry --------------------------------------------------------------------
def test_provider_info_holds_one_form_per_registered_adapter():
    info = get_provider_info()
    entries = info["connection-types"]
    assert len({e["connection-type"] for e in entries}) == len(entries)  # one form per connection type
    by_class = {e["hook-class-name"]: e for e in entries}
    modules = info["hooks"][0]["python-modules"]
    for path in REGISTRY:
        hook = load(path)
        entry = by_class.pop(f"{hook.__module__}.{hook.__qualname__}")
        assert (entry["connection-type"], entry["hook-name"]) == (hook.conn_type, hook.hook_name)
        assert entry == hook.form.entry(entry["hook-class-name"], hook.hook_name, hook.conn_type)
        assert hook.__module__ in modules
    # what is left: the hooks that are no ATS adapter
    assert {e["connection-type"] for e in by_class.values()} == {"hrflow", "hrflow_messaging", "twilio"}
    for entry in entries:
        hook = hook_of(entry)
        assert hook.conn_type == entry["connection-type"] and hook.__module__ in modules
        if entry["connection-type"] != "hrflow":  # HrFlow's form is in get_provider_info (module size limit)
            assert isinstance(hook.form, Form)


def test_adapters_is_generated_from_the_registry():
    expected = {}
    for path in REGISTRY:
        hook = load(path)
        for conn_type in (hook.conn_type, *getattr(hook, "also_conn_types", ())):
            expected[conn_type] = (hook.engine, path)
    assert ADAPTERS == expected
    assert ADAPTERS["http"] == ADAPTERS["hrflow_ats"] == (JSON_BATCH, "hrflow_airflow.hooks.api_key:AtsHook")
    assert {"smartrecruiters", "workable", "greenhouse", "lever", "teamtailor"} <= set(ADAPTERS)
    for engine, client in ADAPTERS.values():
        assert engine in (JSON_BATCH, PER_OBJECT) and callable(load(engine)) and callable(load(client))


@pytest.mark.parametrize("path", REGISTRY)
def test_the_declaration_read_from_source_is_the_class_own(path):
    """Provider info reads declarations from the source (no Airflow import): they must be what the class holds."""
    hook = load(path)
    declared = declaration(path)
    assert {"conn_type", "hook_name", "engine", "form"} <= set(declared)
    assert declared == {name: getattr(hook, name) for name in DECLARED if name in declared}


def test_the_declaration_reader_refuses_what_it_cannot_tell():
    with pytest.raises(ValueError, match="not a literal"):
        _evaluate(ast.parse("f'{x}'", mode="eval").body, {}, "Hook.form")
    with pytest.raises(ValueError, match="DEFAULT"):
        _evaluate(ast.parse("DEFAULT", mode="eval").body, {}, "Hook.engine")
    with pytest.raises(BadConfigError, match="hooks/api_key.py defines no class NoSuchHook"):
        read_declaration("hrflow_airflow.hooks.api_key:NoSuchHook")


def test_provider_info_imports_no_hook_nor_airflow_and_a_hook_can_be_imported_first():
    """Airflow calls get_provider_info() while importing itself: importing a hook there would be a cycle."""
    probe = (
        "import sys, json, hrflow_airflow; hrflow_airflow.get_provider_info(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow' or '.hooks' in m "
        "or m.startswith('hrflow_airflow.destinations.'))))"
    )
    env_python = [sys.executable, "-c"]
    out = subprocess.run([*env_python, probe], cwd=REPO / "plugins", capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    first = "import hrflow_airflow.destinations.lever, hrflow_airflow.hooks.api_key"  # each imports Airflow
    subprocess.run([*env_python, first], cwd=REPO / "plugins", capture_output=True, text=True, check=True)


def test_the_ats_page_of_a_record_is_the_adapters_own_declaration():
    from hrflow_airflow.ui.links import record_url

    assert record_url("ats_default/lever", "lever:opp-1/contact-2") == "https://hire.lever.co/candidates/opp-1"
    assert record_url("ats_default/greenhouse", "greenhouse:12") == "https://app.greenhouse.io/people/12"
    assert record_url("ats_default/workable", "workable:1") is None  # documents no pattern built from the id
    assert record_url("ats_default", "x") is None  # the JSON endpoint: no app
