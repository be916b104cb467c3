"""PEFT is a dev dependency (requirements-dev.txt): the test oracle, never imported by the app or the core.

lora_core/spec.py's `peft_snippet()` writes "from peft import ..." as text for the user to copy; a string
is not an import, and the AST scan below only sees real import statements and import calls.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = [*sorted((ROOT / "lora_core").rglob("*.py")), *sorted((ROOT / "lora_ui").rglob("*.py"))]
RUNTIME += [*sorted((ROOT / "pages").rglob("*.py")), ROOT / "app.py"]


def _is_peft(name: str | None) -> bool:
    return name is not None and (name == "peft" or name.startswith("peft."))


def peft_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno}" for a in node.names if _is_peft(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_peft(node.module):
            found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and _is_peft(str(node.args[0].value)):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_scan_sees_imports():
    sample = ROOT / "tests" / "peft_oracle.py"  # a dev module that does import peft
    assert peft_imports(sample)


def test_no_runtime_module_imports_peft():
    assert len(RUNTIME) > 20
    offenders = [hit for path in RUNTIME for hit in peft_imports(path)]
    assert offenders == []


@pytest.mark.server
def test_memory_estimates_lora_and_dora_with_peft_unimportable():
    """A fresh interpreter where `import peft` fails (sys.modules entry None) still estimates LoRA and DoRA."""
    code = (
        "import sys; sys.modules['peft'] = None\n"
        "from lora_core.memory import TrainingSetup, estimate_memory\n"
        "from lora_core.spec import LoraSpec\n"
        "from tests.memory_configs import LLAMA_GQA\n"
        "for dora in (False, True):\n"
        "    spec = LoraSpec(r=4, target_modules=('q_proj', 'v_proj'), use_dora=dora)\n"
        "    e = estimate_memory(LLAMA_GQA, spec, TrainingSetup(method='lora', precision='bf16', batch=2, seq=16))\n"
        "    assert e.peak_bytes > e.weights_bytes > 0 and e.activations_bytes > 0\n"
        "assert sys.modules['peft'] is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_peft_is_pinned_for_dev_only():
    def pins(name):
        lines = (ROOT / name).read_text().splitlines()
        return {ln.split("==")[0].strip().lower() for ln in lines if "==" in ln and not ln.startswith("#")}

    assert "peft" not in pins("requirements.txt")
    assert "accelerate" not in pins("requirements.txt")  # needed by peft alone
    assert {"peft", "accelerate"} <= pins("requirements-dev.txt")
