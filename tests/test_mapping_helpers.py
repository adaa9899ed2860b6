"""The small helpers kade.mapping gives every plugin."""

from __future__ import annotations

from kade.mapping import flag_setting


def test_flag_setting_reads_typed_and_text_values() -> None:
    assert flag_setting({"a": True}, "a", False) is True
    assert flag_setting({"a": " On "}, "a", False) is True
    assert flag_setting({"a": "off"}, "a", True) is False
    assert flag_setting({"a": "maybe"}, "a", True) is False
    assert flag_setting({}, "a", True) is True
