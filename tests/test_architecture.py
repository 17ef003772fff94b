"""The project's layering, read from the source with ``ast``.

Layers, lowest first: ``common`` <- ``trial_designs`` <- ``analysis`` <- ``intake``
<- ``reports`` <- ``flows``. A package may import itself and lower layers only, so the
arrows point one way: pure logic never reaches up into the code that uses it, and
nothing but ``flows`` (the I/O edge) imports ``flows``. Every import is read, those at
the top of a module and those inside functions alike, because a lazy import inside a
function is still an arrow.

The same test holds each source file to 600 lines, the size of one room of one idea
(issue 17).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first: a package may import any package at its own index or below.
LAYERS = ("common", "trial_designs", "analysis", "intake", "reports", "flows")
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# Folders whose source files are held to MAX_LINES.
SIZED = (*LAYERS, "scripts")
MAX_LINES = 600


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Top-level package names imported anywhere in ``path``, with line numbers.

    Relative imports are resolved against the module's own package, so
    ``from ..flows import x`` inside ``analysis/sub/m.py`` is seen as ``flows``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = path.relative_to(root).parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own[: len(own) - (node.level - 1)] if node.level > 1 else own
                parts = [*base, *(node.module.split(".") if node.module else [])]
                if parts:
                    found.append((node.lineno, parts[0]))
            elif node.module:
                found.append((node.lineno, node.module.split(".")[0]))
    return found


def _upward_imports(package: str) -> list[str]:
    bad = []
    for path in _modules(package):
        for lineno, target in _imported_packages(path):
            if target in RANK and RANK[target] > RANK[package]:
                bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {target}")
    return bad


def test_every_layer_exists():
    # A renamed package would make the layering test pass by reading nothing.
    for package in LAYERS:
        assert _modules(package), f"no Python modules found under {package}/"


@pytest.mark.parametrize("package", LAYERS)
def test_package_imports_only_itself_and_lower_layers(package):
    bad = _upward_imports(package)
    lower = ", ".join(LAYERS[: RANK[package]]) or "nothing"
    assert not bad, (
        f"'{package}' may import only itself and lower layers ({lower}); "
        "these imports point up:\n" + "\n".join(bad)
    )


def test_no_trial_designs_to_analysis_and_only_flows_imports_flows():
    # The two arrows issue 17 names, spelled out so a change to LAYERS cannot drop them.
    bad = [line for line in _upward_imports("trial_designs") if line.endswith(" analysis")]
    for package in ("common", "trial_designs", "analysis", "intake", "reports"):
        bad += [line for line in _upward_imports(package) if line.endswith(" flows")]
    assert not bad, "\n".join(bad)


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
    # The reader must catch an import hidden inside a function and a relative one;
    # otherwise the layering tests above could pass by not looking.
    package = tmp_path / "analysis" / "sub"
    package.mkdir(parents=True)
    module = package / "m.py"
    module.write_text(
        "import numpy\n"
        "def f():\n"
        "    from flows.store import Store\n"
        "    from ...reports import render\n"
        "    from . import sibling\n",
        encoding="utf-8",
    )
    found = [target for _, target in _imported_packages(module, root=tmp_path)]
    assert found == ["numpy", "flows", "reports", "analysis"]


def test_no_source_file_over_600_lines():
    over = []
    for folder in SIZED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".sh"} or not path.is_file():
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                over.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not over, f"source files over {MAX_LINES} lines:\n" + "\n".join(over)


def test_no_flows_module_shadows_a_top_level_package():
    """Prefect runs a deployment's entrypoint (flows/pipeline.py) with flows/ on sys.path, so a
    module flows/<name>.py would be imported for ``import <name>`` of a top-level package: a
    flows/common.py made the worker fail with "No module named 'common.numbers'"."""
    top_level = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    shadows = sorted(
        p.stem for p in (ROOT / "flows").iterdir() if p.stem in top_level and p.stem != "flows"
    )
    assert shadows == []
