"""Plain values: what a checkpoint may hold, so ``torch.load(weights_only=True)`` reads it.

``weights_only`` unpickles only builtins and tensors. A numpy scalar (``np.float64`` is a
subclass of ``float``, so it slips through ``isinstance`` checks and arithmetic unnoticed)
pickles as ``numpy._core.multiarray.scalar`` and makes a checkpoint unreadable: the run
saves fine and fails only at ``--resume``. ``check_plain`` catches that on save instead,
naming the first offending value's key path.
"""

from __future__ import annotations

from typing import Any

import torch

# Exact types: a subclass (np.float64 of float, np.bool_ is none but np.int64 may be) is
# exactly what weights_only refuses, so isinstance would let the bug through.
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_TORCH = (torch.Size, torch.dtype, torch.device)


class NotPlainError(ValueError):
    """A state_dict holds a value that ``torch.load(weights_only=True)`` cannot read."""


def _type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module.split('.')[0]}.{cls.__qualname__}"  # numpy.float64, not numpy._core...


def _child(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def first_not_plain(value: Any, path: str) -> tuple[str, Any] | None:
    """The key path and value of the first non-plain value in ``value``, or None."""
    if type(value) in _SCALARS or isinstance(value, torch.Tensor) or type(value) in _TORCH:
        return None
    if isinstance(value, dict):  # dict and OrderedDict (module state_dicts) are both allowed
        for key, item in value.items():
            if type(key) not in _SCALARS:
                return f"{path or 'the top level'} key {key!r}", key
            found = first_not_plain(item, _child(path, key))
            if found is not None:
                return found
        return None
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            found = first_not_plain(item, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return path, value


def check_plain(value: Any, what: str = "checkpoint") -> None:
    """Raise NotPlainError naming the first value that is not a plain Python value (None,
    bool, int, float, complex, str, bytes; dicts, lists and tuples of them) or a tensor."""
    found = first_not_plain(value, "")
    if found is not None:
        where, bad = found
        raise NotPlainError(
            f"{what}: {where or 'the value'} is a {_type_name(bad)}; state_dicts must hold "
            "plain Python values and tensors (convert numpy scalars with float()/int(), "
            "arrays with torch.as_tensor or .tolist())"
        )
