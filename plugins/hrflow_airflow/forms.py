"""
Connection forms as class-level data: a hook declares the form of its connection type beside the code that reads
the connection, and :meth:`Form.entry` turns the declaration into Airflow's provider ``connection-types`` entry
(``conn-fields`` and ``ui-field-behaviour``, which the UI reads without importing the hook).

A form's :attr:`Form.fields` are the connection extras the hook reads, each a labelled field of the UI form;
``tests/plugins/hrflow_airflow/destinations/test_forms.py`` fails when an ATS adapter reads an extra its form does
not declare.

:func:`read_declaration` reads a hook's declarations from its source instead of importing it: importing a hook
imports Airflow, whose configuration calls ``get_provider_info()``, which would import the half-imported hook
again. Standard library only here, for the same reason.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hrflow_airflow.errors import BadConfigError

PACKAGE = Path(__file__).resolve().parent
DECLARED = ("conn_type", "also_conn_types", "hook_name", "engine", "form")  # what read_declaration reads


@dataclass(frozen=True)
class Field:
    """One connection extra as a form field: its label, JSON schema, description and placeholder."""

    label: str
    schema: Mapping[str, Any]
    description: str | None = None
    placeholder: str | None = None

    def conn_field(self) -> dict[str, Any]:
        """Return the field as a ``conn-fields`` entry of the provider metadata."""
        entry: dict[str, Any] = {"label": self.label, "schema": dict(self.schema)}
        if self.description:
            entry["description"] = self.description
        return entry


def extra_field(
    label: str,
    kind: str = "string",
    *,
    description: str | None = None,
    placeholder: str | None = None,
    **schema: Any,
) -> Field:
    """Return an optional extra of JSON type ``kind`` (``"string"``, ``"integer"``, ``"number"``, ``"boolean"``)."""
    return Field(label, {"type": [kind, "null"], **schema}, description, placeholder)


TIMEOUT = extra_field("HTTP timeout (seconds)", "number", default=30)  # every form's: hooks/http.py connection_timeout


def rate_limit_field(label: str, description: str | None = None) -> Field:
    """Return the ``rate_limit`` extra of a per-object ATS (read by ``CandidateApiHook.limits()``)."""
    return extra_field(label, "integer", description=description, minimum=1)


@dataclass(frozen=True)
class Form:
    """
    The UI form of one connection type.

    ``fields``: every extra the hook reads (extra name -> :class:`Field`); ``hidden``, ``relabeling`` and
    ``placeholders``: Airflow's ``ui-field-behaviour`` for the standard fields (host, login, password, ...).
    """

    fields: Mapping[str, Field]
    relabeling: Mapping[str, str]
    placeholders: Mapping[str, str] = field(default_factory=dict)
    hidden: tuple[str, ...] = ("schema", "port", "extra")

    def entry(self, hook_class_name: str, hook_name: str, conn_type: str) -> dict[str, Any]:
        """Return the provider ``connection-types`` entry of this form for ``conn_type``."""
        extras = {name: f.placeholder for name, f in self.fields.items() if f.placeholder}
        return {
            "hook-class-name": hook_class_name,
            "hook-name": hook_name,
            "connection-type": conn_type,
            "conn-fields": {name: f.conn_field() for name, f in self.fields.items()},
            "ui-field-behaviour": {
                "hidden-fields": list(self.hidden),
                "relabeling": dict(self.relabeling),
                "placeholders": {**self.placeholders, **extras},
            },
        }


def json_endpoint_form(url_label: str, url_placeholder: str, key_label: str, **fields: Field) -> Form:
    """Return the UI form of a JSON endpoint guarded by an API key: labelled URL and key, unused fields hidden."""
    return Form(
        fields={"timeout": TIMEOUT, **fields},
        hidden=("schema", "port", "login", "extra"),
        relabeling={"host": url_label, "password": key_label},
        placeholders={"host": url_placeholder, "password": "the API key"},
    )


HELPERS: dict[str, Any] = {
    "Form": Form,
    "extra_field": extra_field,
    "rate_limit_field": rate_limit_field,
    "json_endpoint_form": json_endpoint_form,
    "TIMEOUT": TIMEOUT,
}


@cache
def read_declaration(path: str, **names: Any) -> dict[str, Any]:
    """
    Return the declarations (:data:`DECLARED`) hook ``path`` ("module:Class" of this package) makes in its class
    body, read from its source without importing it. Their values may be literals, :data:`HELPERS` and ``names``.
    """
    module, _, class_name = path.partition(":")
    parts = module.split(".")
    if parts[0] != PACKAGE.name:
        raise BadConfigError(f"{path}: only this package's hooks are read")
    file = PACKAGE.joinpath(*parts[1:]).with_suffix(".py")
    tree = ast.parse(file.read_text(), str(file))
    body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if body is None:
        raise BadConfigError(f"{path}: {file} defines no class {class_name}")
    found: dict[str, Any] = {}
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            if isinstance(target, ast.Name) and target.id in DECLARED and node.value is not None:
                found[target.id] = _evaluate(node.value, {**HELPERS, **names}, f"{path}.{target.id}")
    return found


def _evaluate(node: ast.expr, names: Mapping[str, Any], where: str) -> Any:
    """Return the value of a declaration's expression: literals, containers and calls of ``names``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and callable(names.get(node.func.id)):
        args = [_evaluate(a, names, where) for a in node.args]
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = _evaluate(keyword.value, names, where)
            kwargs.update(value if keyword.arg is None else {keyword.arg: value})
        return names[node.func.id](*args, **kwargs)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise BadConfigError(f"{where}: {node.id} is not a literal, a form helper nor an engine name")
        return names[node.id]
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            item = _evaluate(value, names, where)
            out.update(item if key is None else {_evaluate(key, names, where): item})
        return out
    if isinstance(node, ast.Tuple | ast.List):
        items = [_evaluate(e, names, where) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise BadConfigError(f"{where}: line {node.lineno} is not a literal nor a call of a form helper") from None


def connection_type(path: str, **names: Any) -> dict[str, Any]:
    """Return the ``connection-types`` entry hook ``path`` ("module:Class") declares, read from its source."""
    declared = read_declaration(path, **names)
    module, _, class_name = path.partition(":")
    return declared["form"].entry(f"{module}.{class_name}", declared["hook_name"], declared["conn_type"])
