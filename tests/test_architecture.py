"""The shape of builder/: which part may import which, read from the code itself.

ARCHITECTURE.md states these rules; this test is what keeps them true.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILDER = REPO / "builder"
AGENT = REPO / "scripts" / "appliance_agent"

# What each part of builder/ may import from the project and the runtime dependencies.
# Anything not listed is forbidden: no part imports upward (stages, cli), and none imports a sibling
# it does not need. "builder" is builder/__init__.py (the version).
ALLOWED = {
    "builder": set(),
    "builder.errors": set(),
    "builder.buildconfig": {"builder.errors", "appliance_agent"},
    "builder.resources": {"builder.errors", "appliance_agent"},
    "builder.io": {"builder.errors"},
    "builder.repo": {"builder.errors"},
    "builder.iso": {"builder", "builder.errors", "builder.buildconfig", "builder.resources", "builder.io", "pycdlib"},
    "builder.fetch": {"builder", "builder.errors", "builder.io", "builder.iso", "builder.repo"},
    "builder.ova": {"builder.errors", "builder.buildconfig", "builder.io", "builder.iso", "appliance_agent"},
    "builder.vm": {"builder", "builder.errors", "builder.buildconfig", "builder.io", "builder.iso", "builder.ova",
                   "appliance_agent"},
    "builder.profile": {"builder.errors", "appliance_agent"},
    "builder.preinstall": {"builder.errors", "builder.ova", "builder.vm"},
    "builder.verify": {"builder.errors", "builder.iso", "builder.ova", "builder.vm", "builder.preinstall",
                       "appliance_agent"},
    "builder.inspect": {"builder.errors", "builder.io", "builder.iso", "builder.ova", "appliance_agent"},
    "builder.stages": {"builder", "builder.errors", "builder.buildconfig", "builder.profile", "builder.io",
                       "builder.iso", "builder.repo", "builder.ova", "builder.fetch", "builder.preinstall"},
    "builder.cli": {"builder", "builder.errors", "builder.buildconfig", "builder.profile", "builder.fetch",
                    "builder.inspect", "builder.stages", "builder.verify", "builder.vm", "appliance_agent", "click"},
}
WATCHED = ("builder", "appliance_agent", "pycdlib", "click")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved; `from x import y` counts as x.y."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _part(module: str) -> str | None:
    """The unit a module belongs to in ALLOWED, or None for modules outside the watched set."""
    parts = module.split(".")
    if parts[0] not in WATCHED:
        return None
    if parts[0] != "builder":
        return parts[0]
    if len(parts) == 1 or parts[1] == "__version__":
        return "builder"
    return "builder." + parts[1]  # a package (builder.iso) or a top-level module (builder.stages)


def _builder_modules():
    return [path for path in BUILDER.rglob("*.py") if "_data" not in path.parts]


def test_every_part_imports_only_what_it_may():
    wrong = []
    for path in _builder_modules():
        own = _part(_module_name(path))
        assert own in ALLOWED, f"{path}: a new part of builder/; add it to ALLOWED and ARCHITECTURE.md"
        for imported in _imports(path):
            target = _part(imported)
            if target is None or target == own:
                continue
            if target not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(REPO)} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_only_image_imports_pycdlib_and_only_cli_imports_click():
    users = {"pycdlib": set(), "click": set()}
    for path in _builder_modules() + list(AGENT.rglob("*.py")):
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in users:
                users[top].add(str(path.relative_to(REPO)))
    assert users["pycdlib"] == {"builder/iso/image.py"}
    assert users["click"] == {"builder/cli.py"}


def test_the_parts_form_no_cycle():
    graph = {part: set() for part in ALLOWED}
    for path in _builder_modules():
        own = _part(_module_name(path))
        for imported in _imports(path):
            target = _part(imported)
            if target in graph and target != own:
                graph[own].add(target)
    done, active = set(), []

    def visit(part):
        assert part not in active, "import cycle: " + " -> ".join(active + [part])
        if part in done:
            return
        active.append(part)
        for target in graph[part]:
            visit(target)
        active.pop()
        done.add(part)

    for part in graph:
        visit(part)
