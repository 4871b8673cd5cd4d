"""A submodule that can also be called as the public function of the same name.

``bigmodel.plan`` and ``bigmodel.generate`` are both subpackages and public functions
(``bm.plan(...)``, ``bm.generate(...)``). Importing a submodule rebinds the package's
attribute to the module, which would hide the function; making the module callable keeps
``bm.plan("gpt2")`` and ``bm.generate("Hello", model=...)`` working either way.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, target: Callable[[], Callable[..., Any]]) -> None:
    """Calling module ``module_name`` calls ``target()(...)`` (resolved at call time)."""

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return target()(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
