"""The shape of the code, as DESIGN.md draws it: transports know effects and capabilities,
never a feature; the engine knows no feature either; features send nothing themselves."""

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"

# What a transport may not know: the features, and the state that belongs to one of them.
FEATURE_STATE = ("bot.state.incidents", "bot.state.timeline", "bot.state.proposals")


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


def modules(folder: str) -> list[Path]:
    return sorted((BOT / folder).rglob("*.py"))


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if name.startswith(forbidden)
    ]


def test_no_transport_imports_a_feature_or_a_feature_s_state() -> None:
    assert offending(modules("transport"), ("bot.features", *FEATURE_STATE)) == []


def test_the_engine_imports_no_feature_and_no_incident_state() -> None:
    assert offending(modules("engine"), ("bot.features", "bot.state.incidents")) == []


def test_no_feature_imports_a_transport_or_a_network_client() -> None:
    network = ("bot.transport", "nio", "aiohttp", "socket", "urllib", "subprocess")
    assert offending(modules("features"), network) == []


def test_the_architecture_test_sees_a_forbidden_import(tmp_path: Path) -> None:
    """A test that cannot fail is a defect: this one fails on a transport importing a feature."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bot.features.incidents.incident import open_\n")
    assert offending([bad], ("bot.features",)) == [
        "bad.py imports bot.features.incidents.incident",
        "bad.py imports bot.features.incidents.incident.open_",
    ]
