"""runnerkit.cluster.transport without a server: query strings and request bodies."""

from __future__ import annotations

from runnerkit.cluster import transport


def test_query_and_body_encoding():
    assert transport.query_string({"labelSelector": "a.io/b=c", "force": True, "dryRun": None}) == \
        "?labelSelector=a.io/b%3Dc&force=true"
    assert transport.query_string(None) == ""
    assert transport.encode({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert transport.encode("raw: yaml") == b"raw: yaml" and transport.encode(None) is None
