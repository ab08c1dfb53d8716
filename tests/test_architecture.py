"""The shape of the code, as DESIGN.md and docs/adding-a-feature.md draw it.

Each folder of `bot/` is a floor: a module imports only from floors below its own, or from its
own folder. Features and transports stand side by side and never know each other; nothing but
the catalog (and the top floor, through it) names a feature. No module imports itself back
through others, and none is longer than a reader takes in at once.
"""

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

FLOORS: dict[str, int] = {
    "core": 1,
    "config": 2,
    "state": 2,
    "engine": 3,
    "reconcile": 3,
    "features": 4,
    "transport": 4,
    "service": 5,
    "cli": 6,
}
"""The floor of each folder (or top-level module) of bot/."""

CATALOG = "bot.features.catalog"
MAX_LINES = 400

# Words of one feature's, which the floors below the features must not hold: what a feature
# reads from policy.toml is its declared section (Feature.policy), not a field of the core's.
FEATURE_WORDS = ("hotfix", "weekly_digest")
STILL_NAMED = {
    # Record fields of one feature's kept by the state layer, for now: the deployment record
    # is decoded strictly (an unknown key is a problem) by every reader, the reconciler
    # included, which knows no feature; a proposal's review fields are read by the approval
    # flow that merges every proposal. Moving them needs feature-declared record fields.
    "bot/state/records.py",
    "bot/state/proposals.py",
}

# What touches the host or the network: a handler (a module that writes `Context -> Outcome`)
# never imports one of these; the host side of a feature (its workers) does.
HOST = ("nio", "aiohttp", "socket", "subprocess", "os", "shutil", "sqlite3", "sqlite_utils")


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def sources() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "_data" not in p.parts)


def modules(folder: str) -> list[Path]:
    return sorted((BOT / folder).rglob("*.py"))


def room(module: str) -> str:
    """The folder (or top-level module) of bot/ a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def known(paths: list[Path]) -> dict[str, Path]:
    return {module_name(path): path for path in paths}


def bot_imports(path: Path, names: set[str]) -> set[str]:
    """The modules of bot/ that `path` imports (an imported name resolved to its module)."""
    found = set()
    for name in imports(path):
        while name and name not in names:
            name = name.rpartition(".")[0]
        if name and name != "bot":
            found.add(name)
    return found


def arrows_up(paths: list[Path]) -> list[str]:
    names = set(known(paths))
    wrong = []
    for module, path in known(paths).items():
        here = room(module)
        for target in sorted(bot_imports(path, names)):
            there = room(target)
            if there == here or not here:
                continue
            if FLOORS.get(there, 99) >= FLOORS.get(here, 0):
                wrong.append(f"{module} -> {target}")
    return wrong


def cycles(paths: list[Path]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    graph = {m: bot_imports(p, set(known(paths))) - {m} for m, p in known(paths).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if name.startswith(forbidden)
    ]


def test_every_folder_of_bot_has_a_floor() -> None:
    rooms = {room(module_name(p)) for p in sources()} - {""}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


def test_no_import_runs_up_a_floor_or_across_one() -> None:
    assert arrows_up(sources()) == []


def test_no_modules_import_each_other_round_a_cycle() -> None:
    assert cycles(sources()) == []


def test_no_module_is_longer_than_a_reader_takes_in_at_once() -> None:
    long = [
        f"{module_name(p)}: {n}"
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert long == []


def test_nothing_but_the_catalog_names_a_feature() -> None:
    outside = [p for p in sources() if room(module_name(p)) != "features"]
    named = offending(outside, ("bot.features",))
    assert [name for name in named if CATALOG not in name] == []


def naming(paths: list[Path], words: tuple[str, ...]) -> list[str]:
    """The files of `paths` whose text holds one of `words`, in any case."""
    found = []
    for path in paths:
        text = path.read_text().lower()
        found += [f"{path.name}: {word}" for word in words if word in text]
    return found


def test_the_floors_below_the_features_hold_no_feature_s_words() -> None:
    below = [*modules("state"), *modules("engine")]
    kept = [p for p in below if p.relative_to(BOT.parent).as_posix() not in STILL_NAMED]
    assert len(kept) == len(below) - len(STILL_NAMED)
    assert naming(kept, FEATURE_WORDS) == []


def test_the_words_test_sees_a_feature_s_word(tmp_path: Path) -> None:
    policy = tmp_path / "policy.py"
    policy.write_text("weekly_digest: bool = False  # [metrics] Weekly_Digest\n")
    assert naming([policy], FEATURE_WORDS) == ["policy.py: weekly_digest"]


def test_features_know_no_transport() -> None:
    assert offending(modules("features"), ("bot.transport",)) == []


def test_a_handler_never_touches_the_host_or_the_network() -> None:
    handlers = [p for p in modules("features") if "bot.engine.context" in imports(p)]
    touching = [
        f"{path.name} imports {name}"
        for path in handlers
        for name in sorted(imports(path))
        if name.split(".")[0] in HOST
    ]
    assert handlers and touching == []


def test_the_architecture_test_sees_a_forbidden_import(tmp_path: Path) -> None:
    """A test that cannot fail is a defect: this one fails on a transport importing a feature."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bot.features.incidents import incident\n")
    assert offending([bad], ("bot.features",)) == [
        "bad.py imports bot.features.incidents",
        "bad.py imports bot.features.incidents.incident",
    ]


def test_the_architecture_test_sees_an_arrow_up_and_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "bot" / "state").mkdir(parents=True)
    (tmp_path / "bot" / "engine").mkdir()
    low = tmp_path / "bot" / "state" / "low.py"
    high = tmp_path / "bot" / "engine" / "high.py"
    low.write_text("from bot.engine.high import x\n")
    high.write_text("from bot.state.low import y\n")
    global BOT
    saved, BOT = BOT, tmp_path / "bot"
    try:
        assert arrows_up([low, high]) == ["bot.state.low -> bot.engine.high"]
        assert cycles([low, high]) == [["bot.engine.high", "bot.state.low"]]
    finally:
        BOT = saved
