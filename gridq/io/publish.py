"""Publishing a bundle's outputs together or not at all: staged files, a journal, roll-forward.

Each output is staged whole beside the bundle's files (``.<name>.staged``), then a journal naming
them is written atomically (the commit point) and they are renamed into place. A run killed
before the journal leaves the old outputs and staged files that the next command deletes; one
killed after it is completed by the next command that takes the bundle's lock.
"""

import json
import os
import signal
from pathlib import Path

from gridq.io.files import atomic_write, forget_read

KILL_AFTER_ENV = "GRIDQ_TEST_KILL_AFTER"
"""Test hook: the output (e.g. ``dispatch.parquet``) after whose publication the process kills
itself with SIGKILL, or ``before-commit`` (every output staged, none published), so tests can
stop a real run at each moment a reader could see."""
BEFORE_COMMIT = "before-commit"
EDIT_BEFORE_PUBLISH_ENV = "GRIDQ_TEST_EDIT_BEFORE_PUBLISH"
"""Test hook: ``NAME=SOURCE`` copies file SOURCE over the bundle's NAME just before a publish
stages its outputs, as a person editing an input while a command runs would."""
PUBLISH_JOURNAL = ".publishing.json"
"""Names the staged outputs of a committed publish until they are all in place."""
STAGED_SUFFIX = ".staged"


def staged_path(bundle: Path, name: str) -> Path:
    """Where output ``name`` of ``bundle`` is staged before its publish commits."""
    return bundle / f".{name}{STAGED_SUFFIX}"


def _journal_names(journal: Path) -> list[str]:
    """The outputs a journal names; none if it is empty or corrupt.

    A crash can leave a journal that never reached the disk whole: its publish cannot be
    completed, so it is dropped like an uncommitted one. The old outputs stay, and readers'
    lineage checks refuse any that no longer belong together.
    """
    try:
        names = json.loads(journal.read_bytes().decode("utf-8"))
    except ValueError:  # bad JSON or bad UTF-8
        return []
    if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
        return []
    return [name for name in names if name == Path(name).name and not name.startswith(".")]


def roll_forward(bundle: Path) -> None:
    """Finish a committed publish (rename what the journal names); drop uncommitted stages."""
    journal = bundle / PUBLISH_JOURNAL
    if journal.is_file():
        for name in _journal_names(journal):
            staged = staged_path(bundle, name)
            if staged.is_file():
                os.replace(staged, bundle / name)
                forget_read(bundle / name)
                fault_point(name)
        journal.unlink()
    for leftover in bundle.glob(f".*{STAGED_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def fault_point(published: str) -> None:
    """Kill this process here if the test hook :data:`KILL_AFTER_ENV` names ``published``."""
    if os.environ.get(KILL_AFTER_ENV) == published:
        os.kill(os.getpid(), signal.SIGKILL)


def edit_point(bundle: Path) -> None:
    """Edit an input here if the test hook :data:`EDIT_BEFORE_PUBLISH_ENV` says so."""
    name, _, source = os.environ.get(EDIT_BEFORE_PUBLISH_ENV, "").partition("=")
    if name and source:
        (bundle / name).write_bytes(Path(source).read_bytes())


def publish(bundle: Path, contents: dict[str, bytes]) -> None:
    """Put every file of ``contents`` (name: bytes) into ``bundle`` at once."""
    edit_point(bundle)
    try:
        for name, data in contents.items():
            atomic_write(
                staged_path(bundle, name), lambda temporary, data=data: temporary.write_bytes(data)
            )
        fault_point(BEFORE_COMMIT)
        # The commit point: once the journal names the staged outputs, the publish completes,
        # here or, after a kill, in the next command that takes the bundle's lock.
        atomic_write(
            bundle / PUBLISH_JOURNAL,
            lambda temporary: temporary.write_text(json.dumps(list(contents))),
        )
    except BaseException:  # a full disk, say: nothing committed, so no staged file stays
        for name in contents:
            staged_path(bundle, name).unlink(missing_ok=True)
        raise
    roll_forward(bundle)
