"""Regular-expression character classes built from sets of code points."""

from __future__ import annotations

import re
from collections.abc import Iterable


def regex_class(codes: Iterable[int]) -> str:
    """The inside of a `[...]` class matching exactly these code points, written as ranges.

    Python's re matches a class of a few ranges about ten times faster than the same set written
    one escaped character at a time.
    """
    ranges: list[list[int]] = []
    for code in sorted(set(codes)):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)
