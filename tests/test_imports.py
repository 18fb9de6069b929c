"""The package's imports go one way, down the data flow (docs/ARCHITECTURE.md, "Layers").

Every import of an ``r1lab`` module counts, at the top of a file or inside a function, so a
lazy import cannot hide an upward one.
"""

import ast
from pathlib import Path

import pytest

import r1lab

PACKAGE = Path(r1lab.__file__).parent

# Lowest first. A module may import its own layer and the layers before it, never a later one.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {"paths", "storage", "lifeline", "runlog", "config", "estimates", "course", "metrics"},
    ),
    (
        "task",
        {
            "tasks",
            "tasks.expressions",
            "tasks.splits",
            "tasks.arithmetic",
            "tasks.countdown",
            "worlds",
        },
    ),  # fmt: skip
    ("dataset", {"data"}),
    ("model", {"tokenizer", "models", "pretrain", "sft", "env"}),
    ("rollouts", {"decoders", "rollouts"}),
    ("rewards", {"rewards", "hacks"}),
    ("update", {"grpo", "grpo_settings", "resume", "trl_grpo"}),
    ("behaviours", {"behaviors", "probes"}),
    ("measurement", {"heldout"}),
    ("presentation", {"plots", "display", "widgets"}),
    ("experiments", {"experiments", "sweep", "claims", "build_models", "scale"}),
    (
        "course tooling",
        {
            "exercises",
            "notebook_runner",
            "edition",
            "slides",
            "references",
            "pack",
            "cli",
            "__main__",
            "__init__",
        },
    ),  # fmt: skip
]
LAYER_OF = {module: i for i, (_, modules) in enumerate(LAYERS) for module in modules}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imported_modules(path: Path) -> set[str]:
    """The r1lab modules ``path`` imports (``from r1lab.x import y`` names ``x``, or
    ``x.y`` when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("r1lab"):
            base = node.module.removeprefix("r1lab").removeprefix(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                found.add(sub if sub in LAYER_OF else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("r1lab."):
                    found.add(alias.name.removeprefix("r1lab."))
    found.discard("")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {module_name(p).removesuffix(".__init__"): imported_modules(p) for p in SOURCES}


def test_every_module_has_a_layer():
    missing = sorted(set(GRAPH) - set(LAYER_OF))
    assert not missing, f"modules without a layer in LAYERS: {missing}"
    gone = sorted(set(LAYER_OF) - set(GRAPH))
    assert not gone, f"LAYERS names modules that do not exist: {gone}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_only_go_down(module):
    upward = [
        f"{module} ({LAYERS[LAYER_OF[module]][0]}) imports {other} ({LAYERS[LAYER_OF[other]][0]})"
        for other in sorted(GRAPH[module])
        if other in LAYER_OF and LAYER_OF[other] > LAYER_OF[module]
    ]
    assert not upward, "; ".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of imports as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for other in sorted(graph.get(node, ())):
            if other == node:
                continue
            if state.get(other) == 1:
                return path[path.index(other) :] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_checks_catch_what_they_look_for(tmp_path):
    """A lazy upward import is found, and a cycle is reported."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from r1lab.sweep import ARMS\n    import r1lab.grpo\n")
    assert imported_modules(lazy) == {"sweep", "grpo"}
    assert LAYER_OF["sweep"] > LAYER_OF["rollouts"]  # so rollouts importing it would fail
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
