#!/usr/bin/env python3
"""Renames the template in place so it becomes your project.

    python3 scripts/rename.py NEW_NAME [--root DIR]

Moves src/<current name>/ to src/NEW_NAME/ and replaces the current name (lower-, Title- and UPPER-case, alone or
inside snake_case, dotted or dashed names) in every text file of the project: imports, pyproject's project name and
console command, the configs' class_path values, README, scripts, tests, CI. The current name is read from
pyproject.toml, so a renamed copy can be renamed again. A bad NEW_NAME exits with status 2 and changes nothing.
"""

import argparse
import contextlib
import keyword
import os
import re
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import NoReturn

# A package with one of these names would shadow it for every import (the template's own too), or the layout's folders.
TAKEN = {*sys.stdlib_module_names, "torch", "lightning", "numpy", "tensorboard", "torchmetrics", "jsonargparse"}
TAKEN |= {"src", "test", "tests"}
SKIP = {".venv", ".git", "lightning_logs", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "build"}


def fail(why: str) -> NoReturn:
    print(f"rename: {why}", file=sys.stderr)
    sys.exit(2)


def word(name: str) -> re.Pattern:
    """The name as a word: `_`, `.` and `-` end a word too (run_litgd, litgd.cli, .litgd-installed), and so do the
    escapes \\n, \\r and \\t in string literals ("\\nlitgd fit")."""
    cases = "|".join(re.escape(case) for case in {name, name.capitalize(), name.upper()})
    return re.compile(rf"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))({cases})(?![A-Za-z0-9])")


def text_files(root: Path) -> dict[Path, str]:
    """The project's text files and their contents: what git tracks or would track (never what it ignores)."""
    if (root / ".git").exists():
        cmd = ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        paths = [root / p for p in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split("\0")]
    else:  # not a checkout: walk the tree, minus environments, runs and caches
        paths = []
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [d for d in subfolders if d not in SKIP and not d.endswith(".egg-info")]
            paths += [Path(folder, name) for name in names]
    files = {}
    for path in paths:
        if path.is_file() and not path.is_symlink():  # is_file: git's index may list files deleted since
            with contextlib.suppress(UnicodeDecodeError):  # binary (checkpoints, images): nothing of ours inside
                files[path] = path.read_bytes().decode("utf-8")  # bytes, not read_text: keeps line endings as they are
    return files


def current_name(pyproject: Path) -> str:
    text = pyproject.read_text()
    try:
        import tomllib
    except ImportError:  # Python 3.10, which the project supports, has no tomllib: take [project]'s first name key
        return re.search(r"^\[project\]\n[^[]*?^name\s*=\s*[\"']([^\"']+)", text, re.MULTILINE)[1]
    return tomllib.loads(text)["project"]["name"]


def check(new: str, root: Path) -> str:
    """Exits with the reason if NEW can't be the project's name; returns the current name."""
    wrong = [not new.isidentifier() and "it is not a Python identifier", new != new.lower() and "it is not lowercase"]
    wrong += [not new.isascii() and "it is not ASCII", new.startswith("_") and "it starts with an underscore"]
    if any(wrong):
        hint = re.sub(r"^[^a-z]+", "", re.sub(r"\W", "_", new.lower(), flags=re.ASCII)).rstrip("_") or "my_project"
        why = " and ".join(filter(None, wrong))
        fail(f"'{new}' cannot be a package name: {why}. Use lowercase letters, digits and underscores, e.g. '{hint}'.")
    if keyword.iskeyword(new):
        fail(f"'{new}' is a Python keyword, so `import {new}` would be a syntax error; pick another name.")
    try:
        old = current_name(root / "pyproject.toml")
    except (OSError, ValueError, KeyError, TypeError) as err:  # TOMLDecodeError is a ValueError
        fail(f"cannot read [project] name from {root / 'pyproject.toml'} ({err!r}); is --root the project's folder?")
    if new == old:
        fail(f"the project is already called '{old}'; give a different name.")
    if new in TAKEN or (spec := find_spec(new)):
        where = "standard library or a dependency" if new in TAKEN else spec.origin or "a namespace package"
        fail(f"'{new}' is already a module ({where}); a package of that name would shadow it, so pick another name.")
    if not (root / "src" / old).is_dir() or (root / "src" / new).exists():
        fail(f"expected the package src/{old} and no src/{new} in {root}; rename by hand or restore the layout.")
    # A word the code already uses would be renamed along with the project next time (litgd.data -> data.data -> x.x).
    for path, text in text_files(root / "src").items():
        if word(new).search(text):
            fail(f"'{new}' already appears as a word in {path.relative_to(root)}; pick a name the code does not use.")
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("new_name", help="the new package, project and command name, e.g. my_project")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="default: this project")
    args = parser.parse_args()
    root, new = args.root.resolve(), args.new_name
    old = check(new, root)
    files, subs = text_files(root), {old: new, old.capitalize(): new.capitalize(), old.upper(): new.upper()}
    (root / "src" / old).rename(root / "src" / new)
    changed = []
    for path, text in files.items():
        if path.is_relative_to(root / "src" / old):  # moved just above
            path = root / "src" / new / path.relative_to(root / "src" / old)
        if (renamed := word(old).sub(lambda match: subs[match[1]], text)) != text:
            path.write_bytes(renamed.encode("utf-8"))  # in place: keeps the scripts' executable bit
            changed.append(path.relative_to(root).as_posix())
    print(f"Renamed '{old}' to '{new}': moved src/{old} to src/{new}, rewrote {len(changed)} files:")
    print("  " + ", ".join(sorted(changed)))
    print(f"Next: `pip uninstall {old}` and `pip install -e .` in your environment (or delete .venv), rerun")
    print("./scripts/test.sh" + (", and commit with `git add -A`." if (root / ".git").exists() else "."))


if __name__ == "__main__":
    main()
