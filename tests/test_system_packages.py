"""`make test` sets itself up: .ci/ensure-system-packages installs what is missing, or says in one line how.

The script runs with fakes first on PATH: `apt-get` logs its arguments and "installs" a package by creating
the file its probe looks for, `id` says who we are, `dpkg-query` answers for fonts-noto-core. The probed
paths of chromium and nginx come from LORA_LAB_CHROMIUM / LORA_LAB_NGINX, so a package can look missing
without touching the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "ensure-system-packages"
TEST_PACKAGES = ["chromium", "fonts-noto-core", "nginx-light"]  # the Makefile's TEST_PACKAGES

pytestmark = [pytest.mark.server, pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")]


def _exe(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A fake machine: nginx present, chromium absent, fonts installed, root, apt-get that works."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    chromium, nginx = tmp_path / "chromium", tmp_path / "nginx"
    _exe(nginx, "exit 0\n")
    log = tmp_path / "apt-get.log"
    # `apt-get install ... chromium` creates the probed chromium binary, as Debian's package would.
    _exe(
        bin_ / "apt-get",
        f'echo "$*" >> "{log}"\n'
        f'case " $* " in *" install "*" chromium "*) printf "#!/bin/sh\\n" > "{chromium}";'
        f' chmod +x "{chromium}";; esac\nexit 0\n',
    )
    _exe(bin_ / "id", 'echo "${FAKE_UID:-0}"\n')
    _exe(bin_ / "dpkg-query", 'echo "install ok installed"\n')
    env = {
        "PATH": f"{bin_}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "LORA_LAB_CHROMIUM": str(chromium),
        "LORA_LAB_NGINX": str(nginx),
        "HOME": str(tmp_path),
    }

    class Machine:
        def run(self, *packages: str, **extra: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [str(SCRIPT), *packages], env={**env, **extra}, capture_output=True, text=True, timeout=60
            )

        def apt_calls(self) -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

    m = Machine()
    m.bin, m.chromium, m.nginx, m.env = bin_, chromium, nginx, env
    return m


def test_nothing_missing_is_silent_and_installs_nothing(machine):
    machine.chromium.write_text("#!/bin/sh\n")
    machine.chromium.chmod(0o755)
    r = machine.run(*TEST_PACKAGES)
    assert r.returncode == 0, r.stderr
    assert r.stdout == r.stderr == ""
    assert machine.apt_calls() == []


def test_root_with_apt_get_installs_only_what_is_missing(machine):
    r = machine.run(*TEST_PACKAGES)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = machine.apt_calls()
    assert calls[0].startswith("update")
    install = calls[-1].split()
    assert "install" in install and install[-1:] == ["chromium"]  # not the fonts or nginx: they are there
    assert os.access(machine.chromium, os.X_OK)


def test_not_root_stops_with_one_line_naming_the_command(machine):
    machine.nginx.unlink()
    r = machine.run(*TEST_PACKAGES, FAKE_UID="1000")
    assert r.returncode == 1
    lines = (r.stdout + r.stderr).splitlines()
    assert len(lines) == 1, lines
    assert "sudo apt-get install -y --no-install-recommends chromium nginx-light" in lines[0]
    assert machine.apt_calls() == []


def test_no_apt_get_stops_with_one_line(machine):
    (machine.bin / "apt-get").unlink()
    bare = machine.bin.parent / "bare"  # PATH without /usr/bin, where the real apt-get lives
    bare.mkdir()
    for tool in ("bash", "mktemp", "rm", "grep", "python3"):
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bare / tool)
    r = machine.run("chromium", PATH=f"{machine.bin}{os.pathsep}{bare}")
    assert r.returncode == 1
    lines = (r.stdout + r.stderr).splitlines()
    assert len(lines) == 1 and "apt-get install -y --no-install-recommends chromium" in lines[0], lines


def test_apt_get_that_installs_nothing_is_an_error(machine):
    _exe(machine.bin / "apt-get", "exit 0\n")  # "succeeds" without installing chromium
    r = machine.run("chromium")
    assert r.returncode == 1
    assert "still missing after apt-get install: chromium" in r.stderr


def test_python_without_venv_support_is_named(machine):
    """Debian's python3 without python3-venv cannot make a venv (no ensurepip): make run's first step says so."""
    _exe(machine.bin / "python3", "echo 'ensurepip is not available' >&2; exit 1\n")
    r = machine.run("python3-venv", FAKE_UID="1000")
    assert r.returncode == 1
    assert r.stderr.strip().endswith("sudo apt-get install -y --no-install-recommends python3-venv")


def test_make_test_runs_the_install_step_first(machine):
    """`make test` with chromium missing, not root: it stops at the install step, before lint or pytest."""
    assert shutil.which("make"), "make test's own test needs make"
    venv = Path(sys.executable).parent.parent
    # If the step were gone, make would go on to ruff and this (cheap) pytest run: the asserts catch it.
    r = subprocess.run(
        ["make", "-C", str(ROOT), "test", f"VENV={venv}", "PYTEST_ARGS=--co -q tests/test_i18n.py"],
        env={**os.environ, **machine.env, "FAKE_UID": "1000"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode != 0
    ours = [line for line in (r.stdout + r.stderr).splitlines() if not line.startswith("make")]
    assert len(ours) == 1, r.stdout + r.stderr
    assert "missing system packages: chromium;" in ours[0]
    assert "ruff" not in r.stdout + r.stderr and "pytest" not in r.stdout + r.stderr
