"""Lineage: every output names, by hash, the exact files it was made from; readers check it.

A table carries its record in its parquet schema metadata (key ``gridq.lineage``), a JSON output
under its ``lineage`` key: the command that wrote it and the sha256 of each file it was made
from. Before a command reads an output it checks that record against the files on disk, and
the records of the outputs it was made from, down to the inputs. An output whose sources have
changed since (stale) or come from another run (mixed, e.g. a run killed between two renames)
is refused with one line naming the file and the command to rerun.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gridq.errors import BundleError

LINEAGE_KEY = "lineage"
PARQUET_KEY = b"gridq.lineage"


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    return sha256_bytes(path.read_bytes())


def record(command: str, made_from: dict[str, str]) -> dict[str, Any]:
    """The lineage record of an output: its command and its sources' hashes."""
    return {"command": command, "made_from": dict(sorted(made_from.items()))}


def read_record(path: Path) -> dict[str, Any] | None:
    """The lineage record stored in an output, or None if it has none."""
    try:
        if path.suffix == ".parquet":
            metadata = pq.read_schema(path).metadata or {}
            raw = metadata.get(PARQUET_KEY)
            return None if raw is None else json.loads(raw)
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: unreadable ({error}); rerun the step that writes it") from None
    found = document.get(LINEAGE_KEY) if isinstance(document, dict) else None
    return found if isinstance(found, dict) else None


def _is_output(path: Path) -> bool:
    return path.suffix in (".parquet", ".json") and read_record(path) is not None


def check(bundle: Path, name: str) -> None:
    """Refuse ``bundle/name`` unless it and everything it was made from are still current.

    Sources that are themselves outputs are checked first, so the message names the first
    stale link (the step to rerun) rather than everything after it.
    """
    path = bundle / name
    if not path.is_file():
        raise BundleError(f"{path}: file not found; check the path, or run the step that writes it")
    found = read_record(path)
    if found is None:
        raise BundleError(
            f"{path} has no lineage record (written by an older GridQ or by hand); rerun the "
            "step that writes it"
        )
    command = found.get("command", "the step that writes it")
    rerun = f"rerun `gridq {command} {bundle}`"
    for source, expected in found.get("made_from", {}).items():
        source_path = bundle / source
        if not source_path.is_file():
            raise BundleError(f"{path} was made from {source}, which is now missing; {rerun}")
        if _is_output(source_path):
            check(bundle, source)
        if sha256_file(source_path) != expected:
            raise BundleError(
                f"{path} is stale or from another run: {source} has changed since it was "
                f"made; {rerun}"
            )


def problems(bundle: Path, names: tuple[str, ...]) -> list[str]:
    """The distinct refusals of :func:`check` over the outputs among ``names`` in ``bundle``."""
    found = []
    for name in names:
        if not (bundle / name).is_file():
            continue
        try:
            check(bundle, name)
        except BundleError as error:
            if str(error) not in found:  # outputs made from one stale table share its line
                found.append(str(error))
    return found
