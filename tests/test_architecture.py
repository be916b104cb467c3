"""The layers docs/architecture.md describes, checked on the tree: the core stays pure, and the package
docstrings and the architecture page name every module there is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What lora_core never imports: UI code, and scheduling (processes, threads, executors, queues: lora_ui/workers/).
NOT_IN_CORE = {"streamlit", "plotly", "lora_ui", "threading", "multiprocessing", "concurrent", "subprocess", "queue"}


def imported_roots(path: Path) -> set[str]:
    """The top-level names a module imports, anywhere in it (lazy imports inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / package).glob("*.py") if p.stem != "__init__")


def test_the_scan_sees_lazy_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    import threading\n    from streamlit import x\n")
    assert imported_roots(sample) == {"threading", "streamlit"}


def test_the_core_imports_no_ui_and_no_scheduling():
    found = {
        str(p.relative_to(ROOT)): sorted(imported_roots(p) & NOT_IN_CORE) for p in (ROOT / "lora_core").rglob("*.py")
    }
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("package", ["lora_core/memory", "lora_core/fit", "lora_core/family", "lora_ui/workers"])
def test_a_package_docstring_names_each_of_its_modules(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert [m for m in modules(package) if not re.search(rf"\b{m}\b", doc)] == []


def test_the_architecture_page_names_every_module_of_the_core_and_the_ui():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"[\w/]+", page))
    missing = [
        f"{package}/{m}"
        for package in ("lora_core", "lora_ui")
        for m in modules(package)
        if f"{m}.py" not in named and m not in named
    ]
    subpackages = [p.name for d in ("lora_core", "lora_ui") for p in (ROOT / d).iterdir() if (p / "__init__.py").exists()]
    missing += [s for s in subpackages if f"{s}/" not in page]
    assert missing == []
