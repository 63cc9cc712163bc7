"""RFC 8785 (JCS) canonical JSON, fast for the common case.

`rfc8785.dumps` is pure Python (~40 µs for a small record), which alone would cap the log
below its throughput goal. For values made only of objects with BMP-only keys, arrays,
strings, booleans, null and integers within ±(2**53-1), the standard library's
`json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes exactly the
RFC 8785 bytes: the same escapes (\\b \\f \\n \\r \\t, other controls as lowercase \\u00xx)
and, for BMP-only keys, code-point order equals RFC 8785's UTF-16 order. Anything else
(any float, a non-BMP key, a big integer, another type) goes to `rfc8785`, the reference.
tests/ledger/test_ledger_canonical.py checks the two agree on generated values.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

CanonicalizationError = rfc8785.CanonicalizationError
_MAX_INT = 2**53 - 1
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _simple(value: Any) -> bool:
    """Whether `json.dumps` writes this value exactly as RFC 8785 does (iterative: this
    runs for every entry appended)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_MAX_INT <= item <= _MAX_INT:
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value; CanonicalizationError (or
    TypeError/ValueError) when it has none."""
    if _simple(value):
        try:
            return _ENCODER.encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: let the reference say why
            pass
    return rfc8785.dumps(value)
