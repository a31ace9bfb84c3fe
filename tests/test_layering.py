"""The import rules between the packages, and which commands load the heavy libraries.

Every `import` in the source is read from the syntax tree (those inside functions
too), so a lazy import that crosses a boundary is caught like a top-level one.

    gristmill/   the base: imports only itself (cli, run and run_config put the chain together: anything)
    quality/     the base and itself (no Beam)
    pipelines/   quality/, the base and itself
    tokenizer/   the base and itself
    train/       the base, itself and the tokenizer's outputs: token shards (tokenizer.shards)
                 and a trained tokenizer (tokenizer.saved)
    dags/        nothing of the project: it runs the `gristmill` command
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gristmill", "quality", "pipelines", "tokenizer", "train", "dags")
ASSEMBLERS = {"gristmill.cli", "gristmill.run", "gristmill.run_config"}
ALLOWED = {
    "gristmill": ("gristmill",),
    "quality": ("gristmill", "quality"),
    "pipelines": ("gristmill", "quality", "pipelines"),
    "tokenizer": ("gristmill", "tokenizer"),
    "train": ("gristmill", "train", "tokenizer.shards", "tokenizer.saved"),
    "dags": (),
}
HEAVY = ("apache_beam", "torch", "great_expectations", "phonenumbers", "stdnum", "transformers", "fasttext", "matplotlib")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module imported) for every import in `source`; `from a import b` names a.b when b is a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((node.lineno, child if is_module(child) else base))
    return found


def project_imports() -> list[tuple[str, int, str]]:
    """(importing module, line, imported project module) over every source file of the packages."""
    edges = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = module_name(path)
            for line, target in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
                if target.split(".")[0] in PACKAGES:
                    edges.append((module, line, target))
    return edges


def allowed(module: str, target: str) -> bool:
    if module in ASSEMBLERS:
        return True
    return any(target == prefix or target.startswith(prefix + ".") for prefix in ALLOWED[module.split(".")[0]])


def test_every_import_follows_the_layering():
    edges = project_imports()
    assert any(m == "pipelines.config" and t.startswith("quality.") for m, _, t in edges)  # the walk sees real imports
    broken = [f"{m} (line {line}) imports {t}" for m, line, t in edges if not allowed(m, t)]
    assert not broken, "imports across the layers:\n" + "\n".join(broken)


def test_the_walk_sees_imports_inside_functions_and_relative_ones():
    source = "def handler():\n    from pipelines.curate import run_curate\n\nfrom . import shards\nfrom .split import is_val\n"
    found = sorted(t for _, t in imports_of(source, "tokenizer.tokenize"))
    assert found == ["pipelines.curate", "tokenizer.shards", "tokenizer.split"]
    assert not allowed("tokenizer.tokenize", "pipelines.curate")
    assert allowed("train.data", "tokenizer.shards") and not allowed("train.data", "tokenizer.train")


def loaded_modules(code: str) -> set[str]:
    """Top-level names of the modules loaded by running `code` in a fresh interpreter."""
    wrapper = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", wrapper], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return {name.split(".")[0] for name in json.loads(run.stdout.strip().splitlines()[-1])}


CLI = "from gristmill.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\nsys.stdout.flush()\nprint()"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["tokenize", "--help"], ["curate", "--help"], ["report", "--help"]])
def test_help_loads_no_heavy_library(argv):
    heavy = loaded_modules(CLI.format(argv=argv)) & set(HEAVY)
    assert not heavy, f"gristmill {' '.join(argv)} loads {sorted(heavy)}"


@pytest.mark.parametrize("module", ["train.config", "tokenizer.train", "gristmill.run", "gristmill.dataset", "pipelines.config"])
def test_config_and_reader_modules_load_no_beam_or_pii_library(module):
    heavy = loaded_modules(f"import {module}") & {"apache_beam", "phonenumbers", "stdnum", "torch", "great_expectations"}
    assert not heavy, f"import {module} loads {sorted(heavy)}"
