"""The secret scrubber on the string forms a run can record (written out by hand here)."""

from __future__ import annotations

import pytest

from harness.secrets import scrub, scrub_text

ENV_SECRET = "s3cr3t-value-from-the-environment"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("{'authorization': 'Bearer abc'}", "{'authorization': 'Bearer ***'}"),
        ("x-api-key=abcdef", "x-api-key=***"),
        ("Proxy-Authorization: Basic Zm9v", "Proxy-Authorization: Basic ***"),
        ("GET /v1?api_key=abc123&q=1", "GET /v1?api_key=***&q=1"),
        ("https://h/x?token=tkn#frag", "https://h/x?token=***#frag"),
        ("https://user:pw@host/path", "https://***@host/path"),
        ("key sk-ant-0123456789abcdefXYZ used", "key *** used"),
        ("hf_abcdefghijklmnopqrstuvwx", "***"),
        ("nothing to hide: a=b, mail@host", "nothing to hide: a=b, mail@host"),
        ("plain text with no marks", "plain text with no marks"),
        ("", ""),
    ],
)
def test_scrub_text_masks_every_secret_form(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


def test_environment_secrets_are_masked_in_text_of_any_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", ENV_SECRET)
    # No ':', '=', '@' or key prefix around it: the value is masked all the same.
    assert scrub_text(f"echoed {ENV_SECRET} back") == "echoed *** back"
    record = {"notes": [f"a{ENV_SECRET}b", ("t", ENV_SECRET)], "api_key": "anything", 3: 4.5}
    assert scrub(record) == {"notes": ["a***b", ("t", "***")], "api_key": "***", 3: 4.5}
