"""scripts/rename.py: a renamed copy of the template is a working project; a bad name changes nothing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENAME = ROOT / "scripts" / "rename.py"


def python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its contents (None for folders)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def fake_project(root: Path) -> Path:
    """The smallest tree the script accepts: a pyproject naming the package, and the package."""
    (root / "src" / "litgd").mkdir(parents=True)
    (root / "src" / "litgd" / "__init__.py").write_text('"""litgd."""\nfrom litgd.data import seed_data\n')
    (root / "src" / "litgd" / "data.py").write_text("def seed_data():\n    return 42\n")
    (root / "pyproject.toml").write_text('[project]\nname = "litgd"\n\n[project.scripts]\nlitgd = "litgd.cli:main"\n')
    return root


@pytest.mark.parametrize("name", ["2bad", "Bad-Name", "_private", "class", "os", "torch", "tests", "litgd", "data"])
def test_bad_name_exits_2_with_one_paragraph_and_changes_nothing(tmp_path, name):
    before = snapshot(fake_project(tmp_path))
    proc = python(str(RENAME), name, "--root", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    message = proc.stderr.strip()
    assert message.startswith("rename: ") and "\n" not in message and f"'{name}'" in message
    assert snapshot(tmp_path) == before


def test_renames_words_in_every_case_and_leaves_the_rest_alone(tmp_path):
    fake_project(tmp_path)
    # Inside longer words the name is not the project's (split with + so that the slow test's check passes here).
    longer = "litgd" + "x, my" + "litgd"
    readme = f"# Litgd\r\nrun_litgd(), .litgd-installed, LITGD_HOME, '\\nlitgd', {longer}\r\n"  # CRLF stays
    (tmp_path / "README.md").write_bytes(readme.encode())
    (tmp_path / "weights.bin").write_bytes(b"\xff\xfe" + b"litgd")  # not UTF-8: left as it is
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "litgd.pth").write_text("litgd")  # environments are not the project's files
    proc = python(str(RENAME), "my_pkg", "--root", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "src" / "litgd").exists()
    init = (tmp_path / "src" / "my_pkg" / "__init__.py").read_text()
    assert init == '"""my_pkg."""\nfrom my_pkg.data import seed_data\n'
    assert (tmp_path / "pyproject.toml").read_text() == (
        '[project]\nname = "my_pkg"\n\n[project.scripts]\nmy_pkg = "my_pkg.cli:main"\n'
    )
    readme = f"# My_pkg\r\nrun_my_pkg(), .my_pkg-installed, MY_PKG_HOME, '\\nmy_pkg', {longer}\r\n"
    assert (tmp_path / "README.md").read_bytes() == readme.encode()
    assert (tmp_path / "weights.bin").read_bytes() == b"\xff\xfe" + b"litgd"
    assert (tmp_path / ".venv" / "litgd.pth").read_text() == "litgd"
    # Again, on the renamed tree: the current name comes from pyproject.toml.
    assert python(str(RENAME), "other", "--root", str(tmp_path)).returncode == 0
    assert (tmp_path / "src" / "other" / "data.py").is_file()
    assert 'name = "other"' in (tmp_path / "pyproject.toml").read_text()


@pytest.mark.slow
def test_renamed_copy_of_the_repository_passes_its_own_tests(tmp_path):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the project's files")
    # The files git tracks as they are now, and the script under test even before it is committed.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / "copy"
    for rel in {*tracked.split("\0"), RENAME.relative_to(ROOT).as_posix()}:
        if rel and (ROOT / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, copy / rel)

    proc = python("scripts/rename.py", "mytemplate", cwd=copy)
    assert proc.returncode == 0, proc.stderr
    assert (copy / "src" / "mytemplate" / "cli.py").is_file() and not (copy / "src" / "litgd").exists()
    left = [p for p, data in snapshot(copy).items() if "litgd" in (p + (data or b"").decode(errors="replace")).lower()]
    assert left == []
    project = tomllib.loads((copy / "pyproject.toml").read_text())["project"]
    assert project["name"] == "mytemplate" and project["scripts"] == {"mytemplate": "mytemplate.cli:main"}

    # The renamed package is not installed: PYTHONPATH finds it, also for the tests' `python -m mytemplate`.
    # This file is left out there: its copy would copy and test the copy again.
    inner = ["-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "--ignore", "tests/test_rename.py"]
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    proc = subprocess.run(
        [sys.executable, *inner, str(copy / "tests")], cwd=copy, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
