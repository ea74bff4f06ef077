"""Import pyogrio without importing pandas, geopandas and pyproj as a side effect.

``pyogrio._compat`` imports pandas, geopandas and pyproj at start-up only to read their version
numbers and to know they are installed. That is ≈0.35 s — a fifth of a whole ``spp load`` of
200 k clean polygons — spent on modules the quick path (:mod:`spp.store.columnar`, Arrow
straight to COPY) never uses. While pyogrio is first imported, :func:`pyogrio` lets those three
names resolve to stand-ins that answer ``__version__`` from the installed distribution's
metadata and become the real module on any other use; once pyogrio is in, ``import pandas``
anywhere loads the real pandas as usual. pyogrio's own functions import these packages
inside the calls that need them (``read_dataframe`` …), so they keep working unchanged.

If pandas is already imported (tests, notebooks, ``spp load --all`` after a full-path load),
nothing is intercepted: this is a plain ``import pyogrio``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
import threading
import types
from typing import Any

__all__ = ["pyogrio"]

_DEFERRED = ("pandas", "geopandas", "pyproj")
_lock = threading.Lock()


class _VersionOnly(types.ModuleType):
    """Stands in for a package whose version is all that is asked of it at import time."""

    def __init__(self, name: str, version: str, finder: _Finder) -> None:
        super().__init__(name)
        self.__version__ = version
        self._finder = finder

    def __getattr__(self, attr: str) -> Any:  # any other use: become the real module
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        self._finder.names.discard(self.__name__)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves :class:`_VersionOnly` for the deferred names while pyogrio is imported."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.served: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        try:
            version = importlib.metadata.version(fullname)
        except importlib.metadata.PackageNotFoundError:
            return None  # not installed: let the normal import fail as pyogrio expects
        return importlib.machinery.ModuleSpec(fullname, self, loader_state=version)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        self.served.append(spec.name)
        return _VersionOnly(spec.name, spec.loader_state, self)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def pyogrio() -> types.ModuleType:
    """Return the ``pyogrio`` module, imported without pulling in pandas, geopandas and pyproj."""
    if "pyogrio" in sys.modules:
        return sys.modules["pyogrio"]
    with _lock:
        if "pyogrio" in sys.modules:
            return sys.modules["pyogrio"]
        finder = _Finder({name for name in _DEFERRED if name not in sys.modules})
        if not finder.names:
            return importlib.import_module("pyogrio")
        sys.meta_path.insert(0, finder)
        try:
            return importlib.import_module("pyogrio")
        finally:
            sys.meta_path.remove(finder)
            for name in finder.served:  # later imports get the real package
                if isinstance(sys.modules.get(name), _VersionOnly):
                    del sys.modules[name]
