"""The floor plan of the package, read from the modules' own imports with ``ast``.

Every module of ``policygrad`` sits on a floor (DESIGN.md) and imports only from floors below it
or from its own floor without a cycle; no import is made inside a function (a function-level
import that climbs is a loop in disguise), except in the CLI and for the optional extras named in
``OPTIONAL``, which are imported where they are used.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "policygrad"

# Third-party optional extras: imported lazily where they are used, with a message naming the extra.
OPTIONAL = {"pyspiel", "kaggle_environments", "ray", "scipy", "matplotlib", "torch.utils.tensorboard"}

# The floor of each module (DESIGN.md, issue 18). A module imports only from lower floors, or from
# its own floor without a cycle. Every module of policygrad.cli is on floor 9 (the face).
FLOORS = {
    # 1 ground
    "policygrad.games": 1, "policygrad.encoding": 1, "policygrad.files": 1, "policygrad.errors": 1,
    "policygrad.limits": 1, "policygrad.tensors": 1, "policygrad.stats": 1, "policygrad.opponents.spec": 1,
    "policygrad.deprecated": 1,
    # 2 models
    "policygrad.policies": 2, "policygrad.opponents.base": 2, "policygrad.equilibrium": 2, "policygrad.best_response": 2,
    # 3 families
    "policygrad.opponents.fixed": 3, "policygrad.opponents.reactive": 3, "policygrad.opponents.predictive": 3,
    "policygrad.opponents.learning": 3, "policygrad.opponents.mix": 3, "policygrad.opponents.external": 3,
    "policygrad.opponents.whitebox": 3, "policygrad.opponents.best_response": 3,  # a deprecated shim over whitebox
    "policygrad.estimators": 3, "policygrad.safety": 3,
    "policygrad.expert_policy": 2, "policygrad.experts": 3, "policygrad.expert_population": 1,  # the expert-mixture agent (issue 20)
    "policygrad.predictors": 3, "policygrad.expert_match": 3,  # NumPy only: online's predictors and the expert agent's one match (an exported Kaggle file carries their source)
    # 4 assembly
    "policygrad.opponents.registry": 4, "policygrad.opponents": 4, "policygrad.engine": 4, "policygrad.config": 4,
    "policygrad.optimum": 4,
    # 5 play
    "policygrad.rollout": 5, "policygrad.exact": 5, "policygrad.envs": 5, "policygrad.envs.single": 5,
    "policygrad.envs.vector": 5, "policygrad.envs.parallel": 5, "policygrad.checkpoint": 5, "policygrad.qlearning": 5,
    "policygrad.run_folder": 5, "policygrad.expert_play": 5,  # the run folder of every trainer; the expert agent's training matches
    # 6 learners and players (and the Ray backend that the measures and experiments hand their tasks to)
    "policygrad.train": 6, "policygrad.gradcheck": 6, "policygrad.online": 6, "policygrad.distributed": 6,
    "policygrad.agent": 6, "policygrad.selfplay": 6, "policygrad.export": 6,
    "policygrad.expert_train": 6, "policygrad.expert_agent": 6, "policygrad.trainers": 6,
    # 7 measures
    "policygrad.evaluate": 7, "policygrad.exploitability": 7, "policygrad.tournament": 7,
    # 8 experiments and figures (and the deprecated baselines module, a shim over the floors below)
    "policygrad.plots": 8, "policygrad.sweep_results": 8, "policygrad.sweep": 8, "policygrad.sweep_tune": 8,
    "policygrad.compare": 8, "policygrad.baselines": 8,
    # 9 the face
    "policygrad": 9,
}  # fmt: skip


def floor_of(module: str) -> int | None:
    if module == "policygrad.cli" or module.startswith("policygrad.cli."):
        return 9
    return FLOORS.get(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported policygrad module, line, inside a function or class body) for each import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    top = set()
    for stmt in tree.body:  # module level, including `if`/`try` blocks at module level
        for node in ast.walk(stmt) if isinstance(stmt, (ast.If, ast.Try)) else [stmt]:
            top.add(id(node))
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = _target(module, is_package, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            out.append((name, node.lineno, id(node) not in top))
    return out


def policygrad_graph() -> dict[str, set[str]]:
    graph = {}
    for m in MODULES:
        graph[m] = {t for t, _, _ in imports_of(m) if t in MODULES and t != m}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of modules, or None (depth-first search with colours)."""
    colour, stack = {}, []

    def visit(m: str) -> list[str] | None:
        colour[m] = "grey"
        stack.append(m)
        for n in sorted(graph[m]):
            if colour.get(n) == "grey":
                return stack[stack.index(n) :] + [n]
            if n not in colour and (cycle := visit(n)):
                return cycle
        colour[m] = "black"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in colour and (cycle := visit(m)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_policygrad_modules():
    cycle = find_cycle(policygrad_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def climbs(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module with a floor that goes to a higher floor (a module without a floor:
    not checked yet). Imports on one floor are checked by the cycle test."""
    bad = []
    for m, targets in sorted(graph.items()):
        if floor_of(m) is None:
            continue
        for n in sorted(targets):
            if floor_of(n) is not None and floor_of(n) > floor_of(m):
                bad.append(f"{m} (floor {floor_of(m)}) imports {n} (floor {floor_of(n)})")
    return bad


def test_every_import_goes_down_a_floor_or_stays_on_its_floor():
    bad = climbs(policygrad_graph())
    assert not bad, "\n".join(bad)


def test_the_floor_table_names_real_modules_and_none_twice():
    assert set(FLOORS) <= set(MODULES), sorted(set(FLOORS) - set(MODULES))
    assert {m for m in MODULES if floor_of(m) is None} == set(), "modules without a floor"
    assert all(1 <= f <= 9 for f in FLOORS.values())


def test_the_floor_checks_catch_a_climb_and_a_same_floor_cycle():
    # the rules themselves, on made-up graphs: policies (2) importing the registry (4) climbs, the
    # engine (4) importing tensors (1) or the registry (4) does not; a module without a floor is not
    # checked; two families importing each other are a cycle on one floor
    graph = {
        "policygrad.policies": {"policygrad.opponents.registry", "policygrad.tensors"},
        "policygrad.engine": {"policygrad.tensors", "policygrad.opponents.registry"},
        "policygrad.nothing": {"policygrad.cli.train"},
    }
    assert climbs(graph) == ["policygrad.policies (floor 2) imports policygrad.opponents.registry (floor 4)"]
    mutual = {"policygrad.opponents.mix": {"policygrad.opponents.whitebox"}, "policygrad.opponents.whitebox": {"policygrad.opponents.mix"}}
    assert find_cycle(mutual) == ["policygrad.opponents.mix", "policygrad.opponents.whitebox", "policygrad.opponents.mix"]
    assert floor_of("policygrad.cli.train") == 9 and floor_of("policygrad.nothing") is None


def test_no_function_level_import_of_policygrad_outside_the_cli():
    bad = []
    for m in MODULES:
        if m == "policygrad.cli" or m.startswith("policygrad.cli."):
            continue
        for name, line, nested in imports_of(m):
            if nested and name.startswith("policygrad"):
                bad.append(f"{MODULES[m].relative_to(SRC)}:{line} imports {name} inside a function")
    assert not bad, "\n".join(bad)


def test_function_level_imports_are_only_optional_extras_or_the_standard_library():
    import sys

    bad = []
    for m in MODULES:
        if m == "policygrad.cli" or m.startswith("policygrad.cli."):
            continue
        for name, line, nested in imports_of(m):
            root = name.split(".")[0]
            if nested and not name.startswith("policygrad") and root not in sys.stdlib_module_names:
                if not any(name == o or name.startswith(o + ".") for o in OPTIONAL):
                    bad.append(f"{MODULES[m].relative_to(SRC)}:{line} imports {name} inside a function")
    assert not bad, "\n".join(bad)


def test_contracts_are_read_not_guessed():
    # a policy says whether it is recurrent (policies.Policy) and a white-box opponent is handed
    # the policy through opponents.whitebox.attach_policy: no getattr with a default, no hasattr
    guesses = {("getattr", "recurrent"), ("hasattr", "attach"), ("hasattr", "recurrent")}
    bad = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and (node.func.id, attr.value) in guesses:
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno} {node.func.id}(..., {attr.value!r})")
    assert not bad, "\n".join(bad)


def test_agent_load_of_every_checkpoint_kind_goes_down_the_floors_only(tmp_path):
    # a fresh interpreter imports policygrad.agent (floor 6) and finds nothing above floor 6 loaded;
    # then Agent.load reads a checkpoint of each kind and imports no module at all while doing so
    import subprocess
    import sys

    from policygrad import encoding
    from policygrad.checkpoint import save_baseline
    from policygrad.config import TrainConfig
    from policygrad.policies import ConstantPolicy, MLPPolicy, QNetPolicy, QTablePolicy, argmax_policy
    from policygrad.train import train

    base = {"game": "rps", "rounds": 5, "context": 1, "counts": False}
    pg_cfg = TrainConfig(opponent="frequency", rounds=5, context=1, counts=False, hidden=(8,), batch=4, iterations=1, tensorboard=False)
    train(pg_cfg, run_dir=str(tmp_path / "run"))
    paths = [
        str(tmp_path / "run"),
        save_baseline(str(tmp_path / "q.pt"), "q-learning", QTablePolicy(3, 1, 0.2), base),
        save_baseline(str(tmp_path / "dqn.pt"), "dqn", QNetPolicy(encoding.feature_size(3, 1), 3, (8,), 0.1), {**base, "hidden": [8]}),
        save_baseline(
            str(tmp_path / "argmax.pt"),
            "deterministic",
            argmax_policy(MLPPolicy(encoding.feature_size(3, 1), 3, (8,))),
            {**base, "pg_config": pg_cfg.to_dict()},
        ),
        save_baseline(str(tmp_path / "const.pt"), "deterministic", ConstantPolicy(3, 2), base),
    ]
    code = (
        "import sys\n"
        "import policygrad.agent as agent\n"
        "before = {m for m in sys.modules if m.startswith('policygrad')}\n"
        f"names = [agent.Agent.load(p).name for p in {paths!r}]\n"
        "after = {m for m in sys.modules if m.startswith('policygrad')}\n"
        "print(sorted(before)); print(sorted(after - before)); print(names)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "PYTHONWARNINGS": "ignore"}
    )
    assert out.returncode == 0, out.stderr
    before, new, names = (eval(line) for line in out.stdout.strip().splitlines())  # noqa: S307 - our own printout
    assert names == ["pg:mlp", "q-learning", "dqn", "deterministic", "deterministic"]
    assert new == [], f"Agent.load imported {new}"
    above = [m for m in before if m != "policygrad" and (floor_of(m) or 99) > 6]
    assert not above, f"importing policygrad.agent loads modules above floor 6: {above}"
    assert "policygrad.train" not in before and "policygrad.checkpoint" in before


def test_no_source_file_is_over_450_lines():
    long = {str(p.relative_to(SRC)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > 450}
    assert not long, long
