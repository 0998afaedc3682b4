"""The rules of the tree, checked on the source: imports run one way with no cycle (imports inside
functions count), the store spells every Redis key, no module grows past 400 lines of code."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from responder.store import Store

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("responder", "workers")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every project module `name` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                yield t


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {name: set(imported(name, path, known)) for name, path in mods.items()}
    # importing a.b.c runs a/__init__ and a/b/__init__ first
    for name in list(edges):
        edges[name] = {p for t in edges[name] for p in _with_parents(t, known)} - {name}
    return edges


def _with_parents(module: str, known: set[str]) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in known]


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if m.startswith(n + "."):
                continue  # a package importing its own submodules is not a cycle through the package
            if state.get(m) == 1:
                cycle = [*stack[stack.index(m):], m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)


def test_responder_never_imports_workers() -> None:
    for name, targets in graph().items():
        if name.startswith("responder") and not name.startswith("responder.cli"):  # the CLI drives every stage
            assert not [t for t in targets if t.startswith("workers")], f"{name} imports {targets}"


def test_the_store_spells_every_key() -> None:
    """Nothing outside responder/store/ builds a key."""
    offenders = []
    for path in [*ROOT.joinpath("responder").rglob("*.py"), *ROOT.joinpath("workers").rglob("*.py"),
                 *ROOT.joinpath("tests").rglob("*.py")]:
        if path.parent == ROOT / "responder" / "store" or path == Path(__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "_key":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: ._key")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("responder:") \
                    and ":" in node.value[len("responder:"):].strip():
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


def test_no_module_over_400_lines_of_code() -> None:
    long = {}
    for name, path in modules().items():
        code = [line for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]
        if len(code) > MAX_LINES:
            long[name] = len(code)
    assert not long, long


def test_jobs_queued_under_the_old_paths_still_resolve(store: Store) -> None:
    """0.1 queued `workers.assess.assess_job` and `workers.notify.dispatch.notify_job`: a worker of this
    release still finds them (for one release)."""
    from rq.job import Job

    from responder.runtime.queues import ASSESS_JOB, NOTIFY_JOB

    for old, new in (("workers.assess.assess_job", ASSESS_JOB), ("workers.notify.dispatch.notify_job", NOTIFY_JOB)):
        queued = Job.create(old, args=("x", 1), connection=store.r)
        assert queued.func is Job.create(new, args=("x", 1), connection=store.r).func
