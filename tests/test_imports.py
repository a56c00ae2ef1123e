"""The architecture as imports: no circle, the runtime apart from training, start-up without TensorFlow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stylecam", "training")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every import statement in ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.append((t, id(node) in top))
    return found


MODULES = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py")}
GRAPH = {m: {t for t, _ in imports(p)} for m, p in MODULES.items()}


def test_no_module_imports_itself_through_others():
    def reaches(start, goal, seen):
        for nxt in GRAPH[start] - {p for p in PACKAGES}:
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    circles = [m for m in GRAPH if m not in PACKAGES and reaches(m, m, set())]
    assert circles == []


def test_the_runtime_never_imports_training():
    # The CLI is the one exception: its train, paint and evaluate commands call training.
    for m, p in MODULES.items():
        if m.startswith("stylecam."):
            uses = [(t, top) for t, top in imports(p) if t.split(".")[0] == "training"]
            if m == "stylecam.cli":
                assert all(not top for _, top in uses)
            else:
                assert uses == [], m


def test_listing_styles_and_help_do_not_load_tensorflow():
    code = (
        "import sys; from typer.testing import CliRunner; from stylecam.cli import app;"
        "r = CliRunner().invoke(app, ['styles']); assert r.exit_code == 0 and 'starry-night' in r.output, r.output;"
        "r = CliRunner().invoke(app, ['convert', '--help']); assert r.exit_code == 0;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
