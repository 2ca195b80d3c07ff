"""docs/architecture.md names every module of the package, by its path under ``plugins/hrflow_airflow/``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugins" / "hrflow_airflow"
ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()


def test_the_module_table_names_every_module_of_the_package():
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")}
    assert {m for m in modules if f"`{m}`" not in ARCHITECTURE} == set()


def test_the_flow_names_every_destination():
    from hrflow_airflow.destinations import REGISTRY, declaration

    step = ARCHITECTURE.split("3. **Post**")[1].split("\n4. ")[0]
    names = {declaration(path)["hook_name"] for path in REGISTRY}
    names = {"JSON" if name.startswith("ATS (JSON") else name.split()[0] for name in names}  # the JSON endpoint
    assert {name for name in names if name not in step} == set()
