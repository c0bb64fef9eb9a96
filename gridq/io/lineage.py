"""Lineage: every output names, by hash, the exact bytes it was made from; readers check it.

A table carries its record in its parquet schema metadata (key ``gridq.lineage``); a JSON output
under its ``lineage`` key, except the documents DVC reads as metrics, whose record sits beside
them in ``<stem>.lineage.json`` (so ``dvc metrics diff`` shows only numbers). A record holds the
command that wrote the output, the sha256 of each file it was made from (the bytes the command
read, not what is on disk when it publishes), the sha256 of the output's own content, and the
names of every file published with it. Before a command reads an output it checks that record
against the files (an edited output, a missing sibling, a changed source) and the records of
the outputs it was made from, down to the inputs. An output whose sources have changed since
(stale), that was edited by hand, or that comes from another run (mixed) is refused with one
line naming the file and the command to rerun.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gridq.errors import BundleError
from gridq.io.files import json_text, read_bytes

LINEAGE_KEY = "lineage"
PARQUET_KEY = b"gridq.lineage"
SIDECAR_SUFFIX = ".lineage.json"


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, as this command read them (see ``one_read_per_file``)."""
    return sha256_bytes(read_bytes(path))


def sidecar_path(path: Path) -> Path:
    """Where the record of a document that keeps none inside it lives."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def table_sha256(table: pa.Table) -> str:
    """The sha256 of a table's names, types and values, whatever its metadata or chunking."""
    plain = pa.schema([pa.field(field.name, field.type) for field in table.schema])
    values = pa.Table.from_arrays(table.combine_chunks().columns, schema=plain)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, plain) as writer:
        writer.write_table(values)
    return sha256_bytes(sink.getvalue().to_pybytes())


def document_sha256(document: dict[str, Any]) -> str:
    """The sha256 of a JSON document's published text without its lineage record."""
    content = {key: value for key, value in document.items() if key != LINEAGE_KEY}
    return sha256_bytes(json_text(content).encode("utf-8"))


def record(
    command: str,
    made_from: dict[str, str],
    content_sha256: str,
    published_with: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The lineage record of an output: its command, its sources, its content, its siblings."""
    return {
        "command": command,
        "made_from": dict(sorted(made_from.items())),
        "content_sha256": content_sha256,
        "published_with": sorted(published_with),
    }


def _unreadable(path: Path, error: Exception) -> BundleError:
    return BundleError(f"{path}: unreadable ({error}); rerun the step that writes it")


def _parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(pa.BufferReader(read_bytes(path)))
    except (pa.ArrowException, OSError) as error:
        raise _unreadable(path, error) from None


def _json(path: Path) -> Any:
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except ValueError as error:  # bad JSON or bad UTF-8
        raise _unreadable(path, error) from None


def read_record(path: Path) -> dict[str, Any] | None:
    """The lineage record of an output (inside it, or beside it), or None if it has none."""
    if path.suffix == ".parquet":
        raw = (_parquet(path).schema.metadata or {}).get(PARQUET_KEY)
        found: Any = None if raw is None else json.loads(raw)
    elif sidecar_path(path).is_file():
        found = _json(sidecar_path(path))
    else:
        document = _json(path)
        found = document.get(LINEAGE_KEY) if isinstance(document, dict) else None
    return found if isinstance(found, dict) else None


def content_sha256(path: Path) -> str:
    """The sha256 a record holds for ``path``'s own content (see :func:`record`)."""
    if path.suffix == ".parquet":
        return table_sha256(_parquet(path))
    if sidecar_path(path).is_file():
        return sha256_file(path)
    document = _json(path)
    return document_sha256(document if isinstance(document, dict) else {})


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
    if found is None or "content_sha256" not in found:
        raise BundleError(
            f"{path} has no lineage record (written by an older GridQ or by hand); rerun the "
            "step that writes it"
        )
    command = found.get("command", "the step that writes it")
    rerun = f"rerun `gridq {command} {bundle}`"
    if content_sha256(path) != found["content_sha256"]:
        raise BundleError(
            f"{path} was edited after `gridq {command}` wrote it (its content no longer matches "
            f"its lineage record); {rerun}"
        )
    for sibling in found.get("published_with", []):
        if not (bundle / sibling).is_file():
            raise BundleError(f"{path} was published with {sibling}, which is now missing; {rerun}")
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
