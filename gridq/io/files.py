"""Files GridQ reads and writes: YAML, JSON and parquet, with one-line errors, written atomically.

Every write goes to a temporary file in the same folder and is renamed into place, so a failed
run never leaves a half-written file. Every JSON output is sorted, indented and rounded
(:data:`PUBLISHED_DECIMALS`), so equal inputs give byte-identical files.
"""

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from gridq import conventions as col
from gridq.errors import BundleError, ConfigError, GridqError, InputError
from gridq.schemas import UNION_TAGS

ModelT = TypeVar("ModelT", bound=BaseModel)


@contextmanager
def about_file(path: Path) -> Iterator[None]:
    """Prefix any GridqError raised inside with ``path``."""
    try:
        yield
    except GridqError as error:
        raise error.with_context(str(path)) from None


def existing(path: Path) -> Path:
    """``path`` if it is a file; else a BundleError naming it."""
    if not path.is_file():
        raise BundleError(f"{path}: file not found; check the path, or run the step that writes it")
    return path


_BYTES_READ: ContextVar[dict[Path, bytes] | None] = ContextVar("gridq_bytes_read", default=None)
"""The bytes of each file read so far inside :func:`one_read_per_file` (by absolute path)."""


@contextmanager
def one_read_per_file() -> Iterator[None]:
    """Inside, each file is read from disk once: later reads, hashes and checks see those bytes.

    A command parses, checks and records in its lineage the same bytes, even if the file is
    edited while it runs. A file this process writes is read afresh afterwards.
    """
    token = _BYTES_READ.set({})
    try:
        yield
    finally:
        _BYTES_READ.reset(token)


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path``: as first read inside :func:`one_read_per_file`, else from disk."""
    seen = _BYTES_READ.get()
    key = Path(os.path.abspath(path))
    if seen is not None and key in seen:
        return seen[key]
    data = existing(path).read_bytes()
    if seen is not None:
        seen[key] = data
    return data


def forget_read(path: Path) -> None:
    """Drop ``path``'s remembered bytes (this process has just replaced the file)."""
    seen = _BYTES_READ.get()
    if seen is not None:
        seen.pop(Path(os.path.abspath(path)), None)


def pydantic_message(error: PydanticValidationError) -> str:
    """One line naming the first bad field, its value and the fix."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"] if part not in UNION_TAGS)
    if first["type"] == "extra_forbidden":
        text = "unknown key; check its spelling against the documented fields"
    elif first["type"] == "missing":
        text = "required key is missing; add it"
    else:
        text = first["msg"].removeprefix("Value error, ")
        value = first.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            text += f" (got {value!r})"
    more = len(error.errors()) - 1
    # A rule across fields (a model validator) names its fields in its own text.
    return (f"{field}: {text}" if field else text) + (f" (+{more} more problems)" if more else "")


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    """Validate ``data`` into ``model``, turning pydantic's report into a one-line ConfigError."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        raise ConfigError(pydantic_message(error)) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file of keys; a syntax error names the line, an empty file is an error.

    Every GridQ YAML file is a mapping: an empty one would otherwise read as all defaults.
    """
    try:
        data = yaml.safe_load(read_bytes(path).decode("utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: malformed YAML{where}; fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8 YAML") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; write its keys (see the README)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: holds a {type(data).__name__}, not keys and values; write 'key: value' "
            "lines (see the README)"
        )
    return data


def read_config(path: Path, model: type[ModelT]) -> ModelT:
    """Read a YAML config into ``model``."""
    data = read_yaml(path)
    with about_file(path):
        return parse_model(model, data)


def read_table(path: Path) -> pd.DataFrame:
    """Read a parquet file; an unreadable one is an InputError naming it."""
    data = read_bytes(path)  # a permission or disk failure is the machine's, not the file's
    try:
        return pq.read_table(pa.BufferReader(data)).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{path}: not a readable parquet file ({error}); rewrite it") from None


def read_json(path: Path) -> Any:
    """Read a JSON output of a bundle."""
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}: malformed JSON at line {error.lineno}; rerun the step that writes it"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; rerun the step that writes it") from None


def _file_mode() -> int:
    """The mode a new file would get (mkstemp's own is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[Path], None], private: bool = False) -> None:
    """Write ``path`` through ``write`` on a temporary file beside it, then rename it in place.

    A ``private`` file is readable by its owner only.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o600 if private else _file_mode())
        _flush_to_disk(Path(temporary))
        os.replace(temporary, path)
        forget_read(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _flush_to_disk(path: Path) -> None:
    """Fsync ``path`` so a rename after it never exposes an empty file after a crash."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


PUBLISHED_DECIMALS = 6
"""Every float GridQ publishes (JSON outputs, plot tables) is rounded to this many decimals:
1e-6 GBP, kWh, kW or fraction. Totals are summed exactly first (:mod:`gridq.engine.sums`), so
equal inputs give byte-identical files on any CPU."""


def published(data: Any) -> Any:
    """``data`` with every float rounded to :data:`PUBLISHED_DECIMALS` (and -0.0 as 0.0)."""
    if isinstance(data, float):
        return round(data, PUBLISHED_DECIMALS) + 0.0
    if isinstance(data, dict):
        return {key: published(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [published(value) for value in data]
    return data


def json_text(data: Any) -> str:
    """Sorted, indented JSON with floats rounded, as every JSON output of GridQ is written."""
    return json.dumps(published(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def json_line(data: Any) -> str:
    """One compact, sorted JSON line: a structured log's entry."""
    return json.dumps(data, sort_keys=True, default=str)


def parse_json_line(line: str) -> Any:
    """A structured log's entry back from its line."""
    return json.loads(line)


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder, removed afterwards (a benchmark's throwaway runs)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder)


def json_bytes(data: Any) -> bytes:
    """:func:`json_text` as UTF-8 bytes."""
    return json_text(data).encode("utf-8")


def yaml_bytes(data: Any) -> bytes:
    """``data`` as YAML (keys in the given order), UTF-8."""
    return yaml.safe_dump(data, sort_keys=False).encode("utf-8")


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of a parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def plain_table_bytes(frame: pd.DataFrame) -> bytes:
    """A table without an index (its columns only) as parquet bytes."""
    return parquet_bytes(pa.Table.from_pandas(frame, preserve_index=False))


def table_bytes(frame: pd.DataFrame) -> bytes:
    """A table on a UTC index as parquet bytes with a ``timestamp`` column."""
    return plain_table_bytes(frame.rename_axis(col.TIMESTAMP).reset_index())


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, atomically."""
    atomic_write(path, lambda temporary: temporary.write_bytes(data))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as sorted, indented JSON, atomically."""
    write_bytes(path, json_bytes(data))


def read_suite(path: Path) -> dict[str, Any]:
    """Read an expectation suite definition (JSON with ``name`` and ``expectations``)."""
    suite = read_json(path)
    if not isinstance(suite, dict) or not {"name", "expectations"} <= set(suite):
        raise ConfigError(f"{path}: an expectation suite needs 'name' and 'expectations'")
    return suite


OS_FIXES = {
    errno.EACCES: "check the file's and folder's permissions",
    errno.EPERM: "check the file's and folder's permissions",
    errno.EROFS: "the file system is read-only; copy the bundle somewhere writable",
    errno.ENOSPC: "the disk is full; free space and rerun (nothing was half-written)",
    errno.EDQUOT: "the disk quota is full; free space and rerun (nothing was half-written)",
    errno.EISDIR: "a folder stands where a file is expected; remove or rename it",
    errno.ENOTDIR: "a file stands where a folder is expected; check the path",
    errno.ENOENT: "check the path",
}


def os_message(error: OSError) -> str:
    """One line for an operating-system failure: the file, what happened and the fix."""
    where = f"{error.filename}: " if error.filename else ""
    what = (error.strerror or str(error)).lower()
    fix = OS_FIXES.get(error.errno or 0, "check the file and the disk, then rerun")
    return f"{where}{what}; {fix}"
