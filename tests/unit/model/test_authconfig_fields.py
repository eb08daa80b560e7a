"""The rendered AuthenticationConfiguration uses only fields that exist in the API version it names,
at the oldest Kubernetes release that serves it: v1beta1 as of 1.30, v1 as of 1.34.

The API server decodes the file strictly (unknown fields are an error, and a reload error keeps the
old config), so a field added in a later release would break a 1.30-1.33 server. These trees are
the json names of the Go types:
- v1beta1 @ 1.30: kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/apis/apiserver/v1beta1/types.go
  (release-1.30 state: issuer.discoveryURL and audienceMatchPolicy exist; `anonymous` (1.31+) and
  `issuer.egressSelectorType` (1.34+) do not);
- v1 @ 1.34: k8s.io/apiserver v0.34.4 pkg/apis/apiserver/v1/types.go.
"""

from __future__ import annotations

import pytest

from conftest import FIXTURES
from runnerkit.cli.files import read_spec
from runnerkit.model.authconfig import authentication_config

PREFIXED = {"claim": None, "prefix": None, "expression": None}
JWT_130 = {
    "issuer": {"url": None, "discoveryURL": None, "certificateAuthority": None, "audiences": None,
               "audienceMatchPolicy": None},
    "claimValidationRules": {"claim": None, "requiredValue": None, "expression": None, "message": None},
    "claimMappings": {"username": PREFIXED, "groups": PREFIXED, "uid": {"claim": None, "expression": None},
                      "extra": {"key": None, "valueExpression": None}},
    "userValidationRules": {"expression": None, "message": None},
}
V1BETA1_AT_130 = {"apiVersion": None, "kind": None, "jwt": JWT_130}
V1_AT_134 = {"apiVersion": None, "kind": None, "jwt": {**JWT_130, "issuer": {**JWT_130["issuer"], "egressSelectorType": None}},
             "anonymous": {"enabled": None, "conditions": {"path": None}}}


def unknown_fields(value: object, schema: dict | None, path: str = "") -> list[str]:
    """Paths in `value` that the schema tree does not have (lists are walked item by item)."""
    if schema is None:
        return []
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unknown_fields(item, schema, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    out = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        out += [where] if key not in schema else unknown_fields(item, schema[key], where)
    return out


@pytest.mark.parametrize("version,api,schema", [
    ("1.30", "apiserver.config.k8s.io/v1beta1", V1BETA1_AT_130),
    ("1.33", "apiserver.config.k8s.io/v1beta1", V1BETA1_AT_130),
    ("1.34", "apiserver.config.k8s.io/v1", V1_AT_134),
])
def test_the_rendering_uses_only_fields_of_its_api_version_at_its_oldest_release(version, api, schema):
    doc = authentication_config(read_spec(FIXTURES / "identities.yaml"), version)  # CA, both issuer types
    assert doc["apiVersion"] == api
    assert unknown_fields(doc, schema) == []
    assert {"issuer", "claimValidationRules", "claimMappings", "userValidationRules"} == set(doc["jwt"][0])


def test_the_field_check_catches_a_field_of_a_later_release():
    later = {"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "AuthenticationConfiguration",
             "jwt": [{"issuer": {"url": "https://x", "audiences": ["a"], "egressSelectorType": "controlplane"},
                      "claimMappings": {"username": {"expression": "claims.sub"}}}],
             "anonymous": {"enabled": False}}
    assert unknown_fields(later, V1BETA1_AT_130) == ["jwt[0].issuer.egressSelectorType", "anonymous"]
