"""Where a run's user code lives (a user's environment factory, a user's critic), recorded in
its config.json, so that evaluating or resuming the run in another directory or process finds
the code again: the module's dotted name and the sys.path entry it was imported from."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Dict, Optional


def import_root(module: Any, dotted: str) -> Optional[str]:
    """The sys.path entry `module` (named `dotted`) was imported from, or None (no file)."""
    path = getattr(module, "__file__", None)
    if not path:
        return None
    root = os.path.dirname(os.path.abspath(path))
    depth = dotted.count(".") + os.path.basename(path).startswith("__init__.")
    for _ in range(depth):
        root = os.path.dirname(root)
    return root


def where(dotted: str) -> Dict[str, Optional[str]]:
    """{"module": dotted, "path": the directory it was imported from} of an imported module; a
    script's (`__main__`) path is the script file."""
    module = sys.modules.get(dotted)
    if dotted == "__main__":
        return {"module": dotted, "path": os.path.abspath(getattr(module, "__file__", "") or "") or None}
    return {"module": dotted, "path": import_root(module, dotted) if module else None}


def is_users(dotted: Optional[str]) -> bool:
    """Code outside jaxac (jaxac's own lives in `jaxac.*`)."""
    return not (dotted or "").startswith("jaxac.") and dotted != "jaxac"


class Missing(ImportError):
    """A recorded module that cannot be imported here; the message says what and where."""


def load(dotted: str, path: Optional[str], what: str) -> Any:
    """The module `dotted` as Python finds it now, else from the recorded `path` (added to
    sys.path). `what` names the code in messages (e.g. "environment 'my/reach'"). Raises
    `Missing` for a script's code or a module that cannot be imported."""
    if dotted == "__main__":
        raise Missing(f"{what} was defined by the script {path or '(unknown)'}: define or register it again "
                      f"in Python before using this run.")
    try:
        return importlib.import_module(dotted)
    except ImportError:
        if path and path not in sys.path:
            sys.path.append(path)
        try:
            return importlib.import_module(dotted)
        except ImportError as err:
            raise Missing(f"{what} needs module {dotted!r} (imported from {path or 'an unrecorded place'} when the "
                          f"run was trained), which cannot be imported here: {err}; put its directory on "
                          f"PYTHONPATH.") from None
