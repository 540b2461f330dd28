"""Imports only go down: every module under python/grebe belongs to one level, and no module
imports (at module level or inside a function) a module of a higher level.

    tensor -> autograd -> ops -> functions -> graph -> serialization -> layers -> saving
    (and export) -> callbacks -> models -> on top (explain, distribution, mixed_precision ...)

"functions" holds what layers and models take by name (activations, initializers, losses,
metrics, optimizers ...), built on ops. Models sit above saving and callbacks because they use
them (Model.save, Model.export, fit's callbacks); saving and export read and write models
through their methods, `_is_model` and the serialization registry, and never import them.

The test parses the sources with `ast` (nothing is imported) and prints every upward edge.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2] / "python"

LEVELS = ["tensor", "autograd", "ops", "functions", "graph", "serialization", "layers",
          "saving", "callbacks", "models", "top"]

# Module prefix -> level; the longest matching prefix wins.
PREFIX_LEVEL = {
    "grebe._C": "tensor",
    "grebe.tensor": "tensor",
    "grebe.dlpack": "top",
    "grebe.autograd": "autograd",
    "grebe.inplace": "tensor",  # read-only saved arrays and write versions: numpy only
    "grebe.ops": "ops",
    "grebe.random": "ops",
    "grebe.backend": "ops",
    "grebe.atomic_io": "tensor",
    "grebe.safetensors_io": "tensor",
    "grebe.registry": "tensor",
    "grebe.replica": "tensor",  # the data-parallel hook: imports nothing from grebe
    "grebe.activations": "functions",
    "grebe.initializers": "functions",
    "grebe.regularizers": "functions",
    "grebe.constraints": "functions",
    "grebe.losses": "functions",
    "grebe.metrics": "functions",
    "grebe.optimizers": "functions",
    "grebe.variables": "functions",
    "grebe.dtype_policies": "functions",
    "grebe.tree": "graph",
    "grebe.graph": "graph",
    "grebe.serialization": "serialization",
    "grebe.layers": "layers",
    "grebe.saving": "saving",
    "grebe.callbacks": "callbacks",
    "grebe.models": "models",
    "grebe.data": "top",
    "grebe.datasets": "top",
    "grebe.utils": "top",
    "grebe.preprocessing": "top",
    "grebe.applications": "top",
    "grebe.explain": "top",
    "grebe.distribution": "top",
    "grebe.mixed_precision": "top",
    "grebe.export": "saving",  # model files of another format; Model.export() calls it
    "grebe": "top",  # the package facade (grebe/__init__.py) sits on top of everything
}


def level_of(module: str) -> int:
    best = max((p for p in PREFIX_LEVEL if module == p or module.startswith(p + ".")), key=len)
    return LEVELS.index(PREFIX_LEVEL[best])


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists() or \
        any(base.parent.glob(base.name + ".*.so")) or any(base.parent.glob(base.name + ".so"))


def imported_modules(path: pathlib.Path, name: str):
    """(line, target) for every grebe module the file imports, wherever the import stands.
    `from grebe.x import y` names grebe.x.y when that is a module, else grebe.x; importing a
    module also runs the __init__ of each package above it (grebe's own facade excepted)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[:len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if _is_module(sub) else base)
        for t in targets:
            if t != "grebe" and not t.startswith("grebe."):
                continue
            parts = t.split(".")
            for i in range(2, len(parts) + 1):  # the packages' __init__ files run too
                yield node.lineno, ".".join(parts[:i])
            if t == "grebe":
                yield node.lineno, t


def upward_edges() -> list:
    edges = []
    for path in sorted((ROOT / "grebe").rglob("*.py")):
        name = module_name(path)
        mine = level_of(name)
        for line, target in imported_modules(path, name):
            if target == name or name.startswith(target + "."):
                continue  # a module's own package
            if level_of(target) > mine:
                edges.append(f"{path.relative_to(ROOT)}:{line}: {name} ({LEVELS[mine]}) "
                              f"imports {target} ({LEVELS[level_of(target)]})")
    return edges


def test_every_module_has_a_level():
    for path in (ROOT / "grebe").rglob("*.py"):
        assert level_of(module_name(path)) >= 0


def test_every_imported_grebe_module_exists():
    """An import of a module that moved (grebe.models.graph -> grebe.graph) fails only when it
    runs; catch it here, where every import is seen."""
    missing = []
    for path in sorted((ROOT / "grebe").rglob("*.py")):
        for line, target in imported_modules(path, module_name(path)):
            if target != "grebe" and not _is_module(target):
                missing.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not missing, "imports of modules that do not exist:\n" + "\n".join(missing)


def test_no_module_imports_upward():
    edges = upward_edges()
    assert not edges, "upward imports (a lower level importing a higher one):\n" + \
        "\n".join(edges)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a function-level import from ops into layers is reported."""
    pkg = tmp_path / "grebe"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "layers").mkdir()
    for p in (pkg, pkg / "ops", pkg / "layers"):
        (p / "__init__.py").write_text("")
    (pkg / "layers" / "core.py").write_text("X = 1\n")
    (pkg / "ops" / "bad.py").write_text("def f():\n    from grebe.layers import core\n")
    globals()["ROOT"], saved = tmp_path, ROOT
    try:
        edges = upward_edges()
    finally:
        globals()["ROOT"] = saved
    assert edges == ["grebe/ops/bad.py:2: grebe.ops.bad (ops) imports grebe.layers (layers)",
                     "grebe/ops/bad.py:2: grebe.ops.bad (ops) imports grebe.layers.core "
                     "(layers)"]
