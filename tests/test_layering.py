"""The layering of docs/architecture.md ("Layers"), read from every module's imports.

Imports are read with ``ast`` from the whole module body, so an import inside a function, a method or
an ``if`` block counts as much as one at the top: moving an import into a function does not remove
the dependency. Relative imports are resolved against the module's package.
"""

from __future__ import annotations

import ast
import pathlib
import re
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]

# layer -> the other layers its modules may import (docs/architecture.md, "Layers").
ALLOWED: Dict[str, Set[str]] = {
    "base": set(),  # ds2ta.fileio: the atomic writer every layer uses (no torch, nothing of the project)
    "core": {"base"},
    "hardware": {"base"},
    "export": {"core", "hardware", "base"},
    "sims": {"core", "hardware", "export", "base"},
    "app": {"core", "hardware", "export", "sims", "base"},
}
PACKAGES = ("core", "export", "hardware", "sims")  # no cycle may run between these
# Longest prefix wins: the commands and the report are the top layer, the rest of ``ds2ta`` the bottom.
LAYER_PREFIXES = {"ds2ta.fileio": "base", "ds2ta.cli": "app", "ds2ta.report": "app", "ds2ta.export": "export",
                  "ds2ta.hardware": "hardware", "ds2ta.sims": "sims", "ds2ta": "core"}
LAVA_ONLY_IN = "ds2ta.sims.lava"


def layer_of(module: str) -> Optional[str]:
    """The layer of a project module, None for a third-party one."""
    best = None
    for prefix, layer in LAYER_PREFIXES.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return best[1] if best else None


def package_dirs(pyproject: pathlib.Path) -> Dict[str, str]:
    """``[tool.setuptools] package-dir``: import name -> folder (relative to the repository)."""
    text = re.search(r"^package-dir = \{(.*?)\}", pyproject.read_text(), re.M).group(1)
    return dict(re.findall(r'"([\w.]+)"\s*=\s*"([\w./]+)"', text))


def find_modules(root: pathlib.Path, dirs: Dict[str, str]) -> Dict[str, Tuple[pathlib.Path, bool]]:
    """Every module under the mapped folders: ``name -> (file, is_package)``."""
    out = {}
    for name, folder in dirs.items():
        base = root / folder
        for py in base.rglob("*.py"):
            parts = py.relative_to(base).with_suffix("").parts
            is_pkg = parts[-1] == "__init__"
            mod = ".".join((name, *(parts[:-1] if is_pkg else parts)))
            # a folder mapped on its own (ds2ta.export -> export/) wins over a same-named sub-folder
            if mod not in out or len(name) > len(out[mod][2]):
                out[mod] = (py, is_pkg, name)
    return {m: (p, pkg) for m, (p, pkg, _) in out.items()}


def imports_of(path: pathlib.Path, module: str, is_package: bool, known: Set[str]) -> Iterator[Tuple[int, str]]:
    """``(line, imported module)`` for every import statement anywhere in the file."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub in known else target


def check_layering(modules: Dict[str, Tuple[pathlib.Path, bool]],
                   layer: Callable[[str], Optional[str]] = layer_of,
                   allowed: Dict[str, Set[str]] = ALLOWED) -> Tuple[List[str], Dict[Tuple[str, str], str]]:
    """``(violations, edges)``: imports against the allowed direction, and one example import per
    edge between two different layers (``(from, to) -> "file:line imports module"``)."""
    known = set(modules)
    violations, edges = [], {}
    for mod, (path, is_pkg) in sorted(modules.items()):
        src = layer(mod)
        for line, target in imports_of(path, mod, is_pkg, known):
            where = f"{path}:{line} ({mod}) imports {target}"
            if target.split(".")[0] == "lava" and not (mod == LAVA_ONLY_IN or mod.startswith(LAVA_ONLY_IN + ".")):
                violations.append(f"{where}: only {LAVA_ONLY_IN} may import lava")
            dst = layer(target)
            if dst is None or src is None or dst == src:
                continue
            edges.setdefault((src, dst), where)
            if dst not in allowed[src]:
                violations.append(f"{where}: layer {src!r} may import only {sorted(allowed[src]) or 'itself'}")
    return violations, edges


def find_cycle(edges, nodes=PACKAGES) -> Optional[List[str]]:
    """One cycle ``[a, b, ..., a]`` among ``nodes`` in the layer graph, or None."""
    succ = {n: sorted(b for a, b in edges if a == n and b in nodes) for n in nodes}
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in succ[n]:
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in nodes:
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _project():
    return find_modules(ROOT, package_dirs(ROOT / "pyproject.toml"))


def test_every_import_follows_the_layering():
    violations, _ = check_layering(_project())
    assert not violations, "imports against docs/architecture.md's layering:\n" + "\n".join(violations)


def test_no_cycle_between_the_four_packages():
    _, edges = check_layering(_project())
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle) + ": " + "; ".join(edges[(a, b)] for a, b in zip(cycle, cycle[1:]))


def test_the_scan_sees_the_project_and_its_function_level_imports():
    """Not vacuous: modules of every layer are found, and known imports (one of them inside a
    function) appear as edges."""
    modules = _project()
    assert {layer_of(m) for m in modules} == set(ALLOWED)
    assert {"ds2ta.model", "ds2ta.export.targets", "ds2ta.hardware.energy", "ds2ta.sims.reference.executor",
            "ds2ta.sims.lava.network", "ds2ta.cli.export", "ds2ta.report.collect"} <= set(modules)
    _, edges = check_layering(modules)
    assert {("sims", "export"), ("export", "hardware"), ("export", "core"), ("app", "sims")} <= set(edges)
    # ds2ta.report.collect imports the energy model only inside collect()
    path, is_pkg = modules["ds2ta.report.collect"]
    lazy = [t for _, t in imports_of(path, "ds2ta.report.collect", is_pkg, set(modules))]
    assert "ds2ta.hardware.energy" in lazy


def _synthetic(tmp_path: pathlib.Path, files: Dict[str, str]) -> Dict[str, Tuple[pathlib.Path, bool]]:
    dirs = {"ds2ta": "ds2ta", "ds2ta.export": "export", "ds2ta.hardware": "hardware", "ds2ta.sims": "sims"}
    for folder in dirs.values():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    for rel, src in files.items():
        (tmp_path / rel).write_text(src)
    return find_modules(tmp_path, dirs)


def test_checker_accepts_a_clean_tree(tmp_path):
    mods = _synthetic(tmp_path, {
        "ds2ta/model.py": "import torch\n",
        "hardware/chip.py": "import numpy as np\n",
        "export/io.py": "from ds2ta.model import Net\nfrom ds2ta.hardware import chip\nfrom . import helper\n",
        "export/helper.py": "",
        "sims/run.py": "from ..export.io import write\nimport ds2ta.hardware.chip\n",
    })
    violations, edges = check_layering(mods)
    assert violations == [] and find_cycle(edges) is None
    assert set(edges) == {("export", "core"), ("export", "hardware"), ("sims", "export"), ("sims", "hardware")}


def test_checker_catches_a_cycle_hidden_in_a_function(tmp_path):
    """The bug this layering removed: export's CLI imported the reference executor inside a function,
    and the executor imports export."""
    mods = _synthetic(tmp_path, {
        "sims/executor.py": "from ds2ta.export.io import read\n",
        "export/io.py": "",
        "export/cli.py": "import sys\n\ndef main():\n    if sys.argv:\n        from ds2ta.sims.executor import run\n",
    })
    violations, edges = check_layering(mods)
    assert len(violations) == 1
    assert "export/cli.py:5 (ds2ta.export.cli) imports ds2ta.sims.executor" in violations[0]
    assert find_cycle(edges) in (["export", "sims", "export"], ["sims", "export", "sims"])


def test_checker_resolves_relative_imports_and_guards_lava(tmp_path):
    mods = _synthetic(tmp_path, {
        "hardware/mapper.py": "def f():\n    from ..export import io\n",
        "export/io.py": "",
        "export/lavaish.py": "import lava.magma.core\n",
        "ds2ta/model.py": "from .hardware import mapper\n",
    })
    violations, edges = check_layering(mods)
    text = "\n".join(violations)
    assert "(ds2ta.hardware.mapper) imports ds2ta.export.io" in text
    assert "(ds2ta.model) imports ds2ta.hardware.mapper" in text
    assert "only ds2ta.sims.lava may import lava" in text
    assert len(violations) == 3


def test_the_atomic_writer_needs_no_torch_and_every_writer_uses_it():
    """Issue 22, item 5: one atomic writer (ds2ta.fileio) outside the torch layer; no module writes an
    output file through its own temp-file-and-rename."""
    import ast
    import sys
    tree = ast.parse((ROOT / "ds2ta" / "fileio.py").read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert mods - {"__future__"} <= set(sys.stdlib_module_names), mods  # no torch, numpy or project module
    own = []
    for f in sorted(ROOT.glob("**/*.py")):
        if ".venv" in f.parts or "tests" in f.parts or f.name == "fileio.py":
            continue
        text = f.read_text()
        if "os.replace(" in text or "mkstemp(" in text:
            own.append(str(f.relative_to(ROOT)))
    assert own == [], own
