"""Fails, listing each one, when a function is longer than pyproject.toml's [tool.function-length] max-lines.

A function's length is from its `def` line to its last line (nested functions count in the one holding
them, and on their own). Run by `make lint`; the paths, the limit and the files left out are in
pyproject.toml, each exclusion with its reason.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def settings() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["function-length"]


def long_functions(path: Path, max_lines: int) -> list[tuple[int, str, int]]:
    """(line, name, length) of each function in `path` longer than `max_lines`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                found.append((node.lineno, node.name, length))
    return sorted(found)


def main() -> int:
    config = settings()
    max_lines, excluded = config["max-lines"], config.get("exclude", [])
    problems, left_out = [], 0
    for folder in config["paths"]:
        for path in sorted((PROJECT / folder).rglob("*.py")):
            relative = path.relative_to(PROJECT).as_posix()
            if any(fnmatch(relative, pattern) for pattern in excluded):
                left_out += 1
                continue
            problems += [
                f"{relative}:{line}: {name}() is {length} lines"
                for line, name, length in long_functions(path, max_lines)
            ]
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} function(s) longer than {max_lines} lines: split them into well-named smaller ones "
            f"({left_out} files left out by [tool.function-length] exclude in pyproject.toml)"
        )
        return 1
    print(f"function length: none over {max_lines} lines ({left_out} files left out, see pyproject.toml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
