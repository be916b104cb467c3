"""Bad input, by construction: nothing in the repository can turn an upload into code or markup.

No unpickling (pickle, torch.load, numpy's allow_pickle, joblib, dill), no eval/exec, no YAML object loading,
no remote code from transformers. Raw HTML (`unsafe_allow_html=True`, `st.html`, components.html) only where
the HTML is a constant with no user text; such a line carries the comment `# safe-html: <why>`.
Tests are held to the first rule only (they may write a pickled file to check that the app refuses it).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".venv", ".git", "node_modules", ".hypothesis", ".pytest_cache", ".ruff_cache", "__pycache__"}
ALLOW_HTML = "# safe-html:"

# This file names every pattern, so it does not scan itself.
NEVER = {
    "pickle": re.compile(
        r"\b(import|from)\s+(c?[Pp]ickle|dill|shelve|marshal)\b|\b(c?[Pp]ickle|dill|shelve|marshal)\s*\."
    ),
    "torch.load": re.compile(r"\btorch\s*\.\s*" + "load" + r"\s*\("),
    "allow_pickle=True": re.compile(r"allow_" + r"pickle\s*=\s*True"),
    "joblib.load": re.compile(r"\bjoblib\s*\.\s*" + "load"),
    "eval/exec": re.compile(r"(?<![\w.])(" + "ev" + "al|" + "ex" + r"ec)\s*\("),
    "yaml.load": re.compile(r"\byaml\s*\.\s*(unsafe_)?" + "load" + r"\s*\((?![^)]*SafeLoader)"),
    "trust_remote_code=True": re.compile(r"trust_remote_" + r"code\s*=\s*True"),
}
HTML = re.compile(
    r"unsafe_allow_"
    + r"html\s*=\s*True|\bst\s*\.\s*"
    + r"html\s*\(|components\.v1\.html|\bcomponents\.html\s*\("
)


def python_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*.py"):
        if SKIP_DIRS.intersection(path.relative_to(ROOT).parts) or path == Path(__file__).resolve():
            continue
        out.append(path)
    return sorted(out)


def code_lines(path: Path):
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("#"):
            continue
        yield n, line


def test_the_scan_sees_the_code():
    files = {p.relative_to(ROOT).as_posix() for p in python_files()}
    assert "app.py" in files and "lora_core/cli.py" in files


# Tests may build hostile inputs (np.save(..., allow_pickle=True) to check the app refuses the file) and
# exec a generated snippet to prove it runs; they still never unpickle or torch.load anything.
IN_TESTS = ("pickle", "torch.load", "joblib.load")


def test_no_unpickling_eval_or_remote_code():
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {what}: {line.strip()}"
        for p in python_files()
        for n, line in code_lines(p)
        for what, rx in NEVER.items()
        if rx.search(line) and (p.relative_to(ROOT).parts[0] != "tests" or what in IN_TESTS)
    ]
    assert not hits, "\n".join(hits)


def test_raw_html_only_with_constant_markup():
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in python_files()
        for n, line in code_lines(p)
        if HTML.search(line) and ALLOW_HTML not in line
    ]
    assert not hits, (
        "raw HTML with possibly user text; if the HTML is a constant, add the comment "
        f"'{ALLOW_HTML} <why>' on that line:\n" + "\n".join(hits)
    )


def test_the_patterns_catch_what_they_should():
    bad = [
        "import pickle",
        "import cPickle",
        "data = pickle.loads(blob)",
        "w = torch.load(f)",
        "np.load(f, allow_pickle=True)",
        "joblib.load(path)",
        "eval(text)",
        "exec(code)",
        "yaml.load(s)",
        "AutoConfig.from_pretrained(p, trust_remote_code=True)",
    ]
    for line in bad:
        assert any(rx.search(line) for rx in NEVER.values()), line
    good = [
        "torch.save(x)",
        "model.eval()",
        "self.evaluate(x)",
        "yaml.load(s, Loader=yaml.SafeLoader)",
        "np.load(f)",
    ]
    for line in good:
        assert not any(rx.search(line) for rx in NEVER.values()), line
    assert HTML.search("st.markdown(x, unsafe_allow_html=True)")
    assert HTML.search("st.html(x)")
    assert not HTML.search("st.markdown(x)")
