"""The schema's statement of free text and the service's check agree on every string."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from vigil.cases.text import pattern, written

_ALPHABET = st.sampled_from([" ", "\t", "\n", "\r", "\x0b", "\x1c", "\xa0", "\u2028", "a", "é"])


@given(st.text(alphabet=_ALPHABET, max_size=8) | st.text(max_size=8), st.integers(1, 4))
def test_schema_pattern_and_check_agree(text: str, low: int) -> None:
    high = 6
    schema_accepts = low <= len(text) <= high and re.search(pattern(low), text) is not None
    assert schema_accepts == (written(text, low, high) is not None)


def test_the_fuzzers_reason_is_refused_by_the_schema_too() -> None:
    # the schema said 3+ characters; the check trimmed first and refused it (CI, stop 22)
    fuzzed = "I\U000f5d88\n"
    assert re.search(pattern(3), fuzzed) is None and written(fuzzed, 3, 500) is None
    assert written(" I\U000f5d88!\n", 3, 500) == "I\U000f5d88!"
    assert written(" \t\n\r  ", 1, 500) is None
    assert written("  no  ", 3, 500) is None
    assert written("\x1cok", 3, 500) == "\x1cok"  # not JSON whitespace: kept, as sent
