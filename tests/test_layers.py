"""The import boundaries of DESIGN.md: the engine is pure, only io touches files, only cli
talks to the terminal."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gridq"
FILE_LIBRARIES = {"pyarrow", "yaml", "json", "tempfile", "shutil"}
TERMINAL_LIBRARIES = {"typer", "rich", "click"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("engine"), ids=lambda p: p.name)
def test_engine_is_pure(path):
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in FILE_LIBRARIES | TERMINAL_LIBRARIES | {"os", "logging"}, name
        assert not name.startswith(("gridq.io", "gridq.cli", "gridq.runners")), name


@pytest.mark.parametrize(
    "path", [p for p in PACKAGE.rglob("*.py") if "cli" not in p.parts], ids=lambda p: p.name
)
def test_only_cli_talks_to_the_terminal(path):
    assert not {n.split(".")[0] for n in _imports(path)} & TERMINAL_LIBRARIES


@pytest.mark.parametrize(
    "path", [p for p in PACKAGE.rglob("*.py") if "io" not in p.parts], ids=lambda p: p.name
)
def test_only_io_reads_and_writes_files(path):
    assert not {n.split(".")[0] for n in _imports(path)} & FILE_LIBRARIES


def test_layer_check_sees_imports():
    # Guard against a vacuous pass: the io layer is known to import pyarrow and yaml.
    assert {"pyarrow", "yaml"} <= {n.split(".")[0] for n in _imports(PACKAGE / "io" / "files.py")}


# highspy is allowed: cli/common.py silences its start-up banner, a terminal concern.
SOLVER_LIBRARIES = {"linopy", "lightgbm"}


@pytest.mark.parametrize("path", _modules("cli"), ids=lambda p: p.name)
def test_the_cli_parses_and_delegates(path):
    """Commands reach the LP and the forecast's models only through runners."""
    for name in _imports(path):
        assert name.split(".")[0] not in SOLVER_LIBRARIES, name
        assert not name.startswith("gridq.engine.model"), name


def test_layer_check_sees_the_clis_function_local_imports():
    # Commands import inside their functions (fast start-up); the check must still see them.
    assert {"gridq.io", "gridq.runners"} <= _imports(PACKAGE / "cli" / "bundle_commands.py")


@pytest.mark.parametrize("path", _modules("runners"), ids=lambda p: p.name)
def test_no_runner_imports_another(path):
    """Runners compose the engine and io; shared steps live below them, not in a runner."""
    for name in _imports(path):
        assert not name.startswith(("gridq.runners", "gridq.fleet", "gridq.cli")), name


@pytest.mark.parametrize("path", _modules("fleet"), ids=lambda p: p.name)
def test_fleets_sit_between_the_cli_and_the_runners(path):
    for name in _imports(path):
        assert not name.startswith("gridq.cli"), name


def test_the_runner_check_sees_imports():
    assert "gridq.engine.run" in _imports(PACKAGE / "runners" / "backtest.py")
