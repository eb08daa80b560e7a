"""Every credential a kubeconfig can carry is registered with the redactor when the file is read,
so a loader error or a --debug trace that quotes it prints *** instead."""

import yaml

from runnerkit.cluster.kubeconfig_check import check
from runnerkit.model import redact

SECRETS = {
    "token": "opaque-static-token-0001",
    "password": "basic-auth-password-0002",
    "client-key-data": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2ZzAwMDMK",
    "id-token": "opaque-id-token-0004",
    "refresh-token": "opaque-refresh-token-0005",
    "client-secret": "oidc-client-secret-0006",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key-0007",
}
NOT_SECRET = ("https://idp.example.com", "eu-west-1-region-name", "client-id-not-secret")


def test_tokens_keys_and_provider_secrets_are_masked_after_reading_the_file(tmp_path):
    user = {"token": SECRETS["token"], "password": SECRETS["password"],
            "client-key-data": SECRETS["client-key-data"],
            "auth-provider": {"name": "oidc", "config": {
                "id-token": SECRETS["id-token"], "refresh-token": SECRETS["refresh-token"],
                "client-secret": SECRETS["client-secret"], "idp-issuer-url": NOT_SECRET[0],
                "client-id": NOT_SECRET[2]}},
            "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws",
                     "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": SECRETS["AWS_SECRET_ACCESS_KEY"]},
                             {"name": "AWS_REGION", "value": NOT_SECRET[1]}]}}
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [{"name": "u", "user": user}]}))
    check(path)
    text = "loader said: " + " ".join(SECRETS.values()) + " " + " ".join(NOT_SECRET)
    out = redact.redact(text)
    assert not [name for name, value in SECRETS.items() if value in out]
    assert all(value in out for value in NOT_SECRET)


def test_a_malformed_exec_section_is_not_a_crash(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                                    "users": [{"name": "u", "user": {"exec": "aws", "auth-provider": "x"}}]}))
    assert check(path)["users"][0]["user"]["exec"] == "aws"
