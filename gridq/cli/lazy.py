"""Import a module on first use, so ``gridq --help`` and light commands skip heavy imports."""

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for module ``name`` and imports it when an attribute is first read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)
