"""Turn a GridqError into one line on stderr and exit code 2; let bugs keep their traceback."""

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer

from gridq.errors import EXIT_CODE, GridqError

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command so a GridqError prints ``error: <message>`` and exits with code 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except GridqError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_CODE) from None

    return wrapper


@contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """Send what compiled code prints (HiGHS's banner) to stderr, keeping stdout for results."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
