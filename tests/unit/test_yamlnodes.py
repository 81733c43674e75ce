"""The shared marked-YAML reader: whole numbers are ASCII digits only, in both message styles."""

from __future__ import annotations

import pytest
import yaml

from dockwright.errors import SpecError
from dockwright.yamlnodes import NodeReader


@pytest.mark.parametrize("range_in_message", [False, True])
@pytest.mark.parametrize("text", ["'²'", "'٣'", "-1", "1.5"])
def test_only_ascii_digits_are_whole_numbers(text: str, range_in_message: bool) -> None:
    node = yaml.compose(f"n: {text}", Loader=yaml.SafeLoader).value[0][1]
    reader = NodeReader("f.yaml", SpecError, range_in_message=range_in_message, integer_range=(0, 9))
    with pytest.raises(SpecError) as info:
        reader.integer(node, "n")
    assert info.value.message.startswith("f.yaml:1:4: n must be a whole number")
