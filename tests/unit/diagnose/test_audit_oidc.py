"""audit on clusters that accept OIDC tokens (pure rules): grants to system:authenticated beyond the
defaults, grants to system:unauthenticated, hand-made bindings to CI identities, and how the CLI learns
the issuers (--spec, --oidc-issuer, --authentication-config) against the fake client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, run_cli
from fakes import FakeClient
from runnerkit.cli.files import read_spec
from runnerkit.diagnose import audit_report
from runnerkit.diagnose.audit import Inventory, Scope, audit
from runnerkit.diagnose.audit_oidc import BASELINE, OidcFacts, beyond_defaults, declared_names
from runnerkit.diagnose.audit_oidc_inputs import from_spec
from runnerkit.desired import render
from runnerkit.model.authconfig import authentication_config

SPEC = read_spec(FIXTURES / "identities.yaml")
GITHUB = "https://token.actions.githubusercontent.com"
FACTS = OidcFacts((GITHUB,), ("--oidc-issuer",))
AUTHENTICATED = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}
ANONYMOUS = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:unauthenticated"}

# The bootstrap ClusterRoles and ClusterRoleBindings of kube-apiserver 1.37 for these groups, as listed.
BASIC_USER = {"metadata": {"name": "system:basic-user"}, "rules": [
    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
     "verbs": ["create"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]}
DISCOVERY = {"metadata": {"name": "system:discovery"}, "rules": [
    {"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                         "/readyz", "/version", "/version/"], "verbs": ["get"]}]}
PUBLIC_INFO = {"metadata": {"name": "system:public-info-viewer"}, "rules": [
    {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]}
VIEW = {"metadata": {"name": "view"}, "rules": [
    {"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list", "watch"]}]}
DEPLOY = {"metadata": {"name": "deploy"}, "rules": [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "patch"]}]}


def crb(name, role, *subjects):
    return {"metadata": {"name": name}, "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": list(subjects)}


def rb(ns, name, role, *subjects, labels=None):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": list(subjects)}


def defaults() -> list[dict]:
    return [crb("system:basic-user", "system:basic-user", AUTHENTICATED),
            crb("system:discovery", "system:discovery", AUTHENTICATED),
            crb("system:public-info-viewer", "system:public-info-viewer", AUTHENTICATED, ANONYMOUS)]


def inventory(*bindings, role_bindings=()) -> Inventory:
    return Inventory(cluster_roles=[BASIC_USER, DISCOVERY, PUBLIC_INFO, VIEW, DEPLOY],
                     cluster_role_bindings=defaults() + list(bindings), role_bindings=list(role_bindings))


def rows(report):
    return {(f.severity, f.check, f.subject, f.binding, f.rule) for f in report.findings}


def test_the_default_bindings_are_not_flagged_with_an_issuer():
    assert audit(inventory(), Scope(oidc=FACTS)).findings == []
    for group, baseline in BASELINE.items():
        assert beyond_defaults(baseline, group) == []


def test_a_cluster_wide_read_grant_to_system_authenticated_is_high_and_says_what_and_why():
    report = audit(inventory(crb("everyone-views", "view", AUTHENTICATED)), Scope(oidc=FACTS))
    assert rows(report) == {("HIGH", "oidc-authenticated", "Group system:authenticated",
                             "ClusterRoleBinding/everyone-views",
                             'apiGroups: [""] resources: [configmaps, pods] verbs: [get, list, watch]')}
    [f] = report.findings
    assert f.role == "ClusterRole/view"
    assert "every repository on github.com" in f.why and "cluster-wide" in f.why
    assert f"accepts tokens from {GITHUB} (--oidc-issuer)" in f.why
    assert f.fix == ("bind ClusterRole/view to the groups of the CI identities that need it (runnerkit.yaml "
                     "`identities:`, then `runnerkit apply`) or to named ServiceAccounts, and delete "
                     "ClusterRoleBinding/everyone-views")
    assert report.oidc_issuers == (GITHUB,)
    assert audit_report.summary(report).endswith(f"; OIDC issuers: {GITHUB}")


def test_writes_or_secret_reads_make_it_critical_and_namespaced_grants_count():
    secrets = {"metadata": {"name": "secrets"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["one"], "verbs": ["get"]}]}
    inv = inventory(role_bindings=[rb("web", "everyone-deploys", "deploy", AUTHENTICATED),
                                   rb("web", "everyone-reads-one", "secrets", AUTHENTICATED)])
    inv = Inventory(**{**inv.__dict__, "cluster_roles": inv.cluster_roles + [secrets]})
    found = {(f.severity, f.check, f.binding) for f in audit(inv, Scope(oidc=FACTS)).findings}
    assert found == {("CRITICAL", "oidc-authenticated", "RoleBinding/everyone-deploys -n web"),
                     ("CRITICAL", "oidc-authenticated", "RoleBinding/everyone-reads-one -n web")}


def test_only_what_goes_beyond_the_defaults_is_reported():
    mixed = {"metadata": {"name": "mixed"}, "rules": DISCOVERY["rules"] + BASIC_USER["rules"] + [
        {"nonResourceURLs": ["/logs", "/logs/*"], "verbs": ["get"]}]}
    inv = inventory(crb("logs", "mixed", AUTHENTICATED))
    inv = Inventory(**{**inv.__dict__, "cluster_roles": inv.cluster_roles + [mixed]})
    [f] = audit(inv, Scope(oidc=FACTS)).findings
    assert (f.severity, f.rule) == ("HIGH", 'nonResourceURLs: [/logs, /logs/*] verbs: [get]')


def test_an_edited_default_role_is_flagged_for_what_was_added():
    edited = {"metadata": {"name": "system:discovery"},
              "rules": DISCOVERY["rules"] + [{"nonResourceURLs": ["*"], "verbs": ["get"]},
                                             {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}]}
    inv = Inventory(cluster_roles=[BASIC_USER, edited, PUBLIC_INFO], cluster_role_bindings=defaults())
    [f] = [f for f in audit(inv, Scope(oidc=FACTS)).findings if f.check == "oidc-authenticated"]
    assert f.binding == "ClusterRoleBinding/system:discovery" and f.severity == "CRITICAL"  # list * includes secrets
    assert f.rule == 'nonResourceURLs: ["*"] verbs: [get]; apiGroups: ["*"] resources: ["*"] verbs: [list]'


def test_long_grants_name_three_rules_and_count_the_rest():
    many = {"metadata": {"name": "many"}, "rules": [
        {"apiGroups": [""], "resources": [f"r{i}"], "verbs": ["get"]} for i in range(5)]}
    inv = inventory(crb("many", "many", AUTHENTICATED))
    inv = Inventory(**{**inv.__dict__, "cluster_roles": inv.cluster_roles + [many]})
    [f] = audit(inv, Scope(oidc=FACTS)).findings
    assert f.rule.endswith('resources: [r2] verbs: [get]; and 2 more rules') and f.rule.count("apiGroups") == 3


def test_without_an_issuer_system_authenticated_keeps_only_the_capability_checks():
    report = audit(inventory(crb("everyone-views", "view", AUTHENTICATED)))
    assert report.findings == [] and report.oidc_issuers == ()


def test_cluster_admin_to_system_authenticated_is_both_findings():
    admin = {"metadata": {"name": "cluster-admin"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    inv = inventory(crb("oops", "cluster-admin", AUTHENTICATED))
    inv = Inventory(**{**inv.__dict__, "cluster_roles": inv.cluster_roles + [admin]})
    assert {(f.severity, f.check) for f in audit(inv, Scope(oidc=FACTS)).findings} == {
        ("CRITICAL", "cluster-admin-sa"), ("CRITICAL", "oidc-authenticated")}


def test_grants_to_system_unauthenticated_beyond_public_info_are_flagged_with_or_without_an_issuer():
    # discovery is a default for authenticated users only: for anonymous requests it is more
    inv = inventory(crb("anon-discovery", "system:discovery", ANONYMOUS),
                    role_bindings=[rb("web", "anon-deploys", "deploy", ANONYMOUS),
                                   rb("web", "anon-user", "view", {"kind": "User", "name": "system:anonymous"})])
    for scope in (Scope(), Scope(oidc=FACTS)):
        assert {(f.severity, f.check, f.subject, f.binding) for f in audit(inv, scope).findings} == {
            ("HIGH", "anonymous-grant", "Group system:unauthenticated", "ClusterRoleBinding/anon-discovery"),
            ("CRITICAL", "anonymous-grant", "Group system:unauthenticated", "RoleBinding/anon-deploys -n web"),
            ("HIGH", "anonymous-grant", "User system:anonymous", "RoleBinding/anon-user -n web")}


def spec_facts() -> OidcFacts:
    return from_spec(SPEC, "runnerkit.yaml")


RENDERED = render(SPEC)
MANAGED = {"app.kubernetes.io/managed-by": "runnerkit", "runnerkit.io/spec": "keyless"}
APP_MAIN = "github:repo:acme/app:ref:refs/heads/main"  # an identity group of project app (namespace app)


def group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def rendered_inventory(*role_bindings: dict, cluster_role_bindings=()) -> Inventory:
    """The spec's own objects as apply writes them, plus the given bindings."""
    by = lambda kind: [o for o in RENDERED if o["kind"] == kind]  # noqa: E731
    return Inventory([BASIC_USER, DISCOVERY, PUBLIC_INFO, VIEW, DEPLOY] + by("ClusterRole"), by("Role"),
                     defaults() + by("ClusterRoleBinding") + list(cluster_role_bindings),
                     by("RoleBinding") + list(role_bindings), by("ServiceAccount"), [])


def test_bindings_to_identities_outside_the_spec():
    inv = rendered_inventory(
        rb("web", "by-hand", "deploy", group(APP_MAIN)),  # the declared group, bound by hand elsewhere
        rb("app", "stranger", "view", group("github:repo:other/x")),  # owner not in issuers[].owners
        rb("app", "outside-group", "view", group("gitlab:project_path:evil/app:protected")),
        rb("app", "undeclared", "view", {"kind": "User", "name": "github:repo:acme/tools"}),
        rb("app", "pull-requests", "view", group(APP_MAIN + ":pull_request"), labels=MANAGED),
        rb("app", "other-prefix", "view", group("gh:repo:acme/app")),  # not an issuer of this spec
    )
    found = {f.binding: f for f in audit(inv, Scope(oidc=spec_facts())).findings}
    assert set(found) == {"RoleBinding/by-hand -n web", "RoleBinding/stranger -n app",
                          "RoleBinding/outside-group -n app", "RoleBinding/undeclared -n app",
                          "RoleBinding/pull-requests -n app"}
    assert {f.check for f in found.values()} == {"identity-outside-spec"}
    assert {f.severity for f in found.values()} == {"MEDIUM"}
    assert "other is not in the owners of issuer github: no token maps to it today" in found["RoleBinding/stranger -n app"].why
    assert "evil/app is not inside the groups of issuer gitlab" in found["RoleBinding/outside-group -n app"].why
    assert "declares this identity, but this binding was made by hand" in found["RoleBinding/by-hand -n web"].why
    assert "no identity of the spec is bound to exactly this name" in found["RoleBinding/undeclared -n app"].why
    assert found["RoleBinding/stranger -n app"].fix.startswith("delete RoleBinding/stranger -n app; declare")
    assert found["RoleBinding/pull-requests -n app"].managedBy == "keyless"


def test_runnerkit_labels_do_not_make_a_binding_the_specs_own():
    """Only a binding that grants what render(spec) grants (namespace or cluster-wide, subject, roleRef)
    and carries the spec's label is the spec's: project app's group bound in web's namespace is
    flagged whatever labels it carries."""
    web = {**MANAGED, "runnerkit.io/project": "web"}
    other_spec = {**MANAGED, "runnerkit.io/spec": "other"}
    [app_binding] = [o for o in RENDERED if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == "app"]
    role_ref = app_binding["roleRef"]
    inv = rendered_inventory(
        rb("web", "runnerkit-web-viewer-copy", "view", group(APP_MAIN), labels=web),  # A's group in B's namespace
        rb("web", "from-another-spec", "view", group(APP_MAIN), labels=other_spec),
        rb("app", "more-for-app", "deploy", group(APP_MAIN), labels=MANAGED),  # right namespace, another role
        {**rb("app", "same-grant-other-label", "x", group(APP_MAIN), labels=other_spec), "roleRef": role_ref},
        cluster_role_bindings=[{**crb("app-everywhere", "view", group(APP_MAIN)),
                                "metadata": {"name": "app-everywhere", "labels": MANAGED}}])
    found = {f.binding: f for f in audit(inv, Scope(oidc=spec_facts())).findings
             if f.check == "identity-outside-spec"}
    assert set(found) == {"RoleBinding/runnerkit-web-viewer-copy -n web", "RoleBinding/from-another-spec -n web",
                          "RoleBinding/more-for-app -n app", "RoleBinding/same-grant-other-label -n app",
                          "ClusterRoleBinding/app-everywhere"}
    assert {f.subject for f in found.values()} == {f"Group {APP_MAIN}"}
    assert "does not grant it this role here" in found["RoleBinding/runnerkit-web-viewer-copy -n web"].why
    assert "carries the labels of spec other, not keyless" in found["RoleBinding/from-another-spec -n web"].why
    no_spec = rb("web", "no-spec-label", "view", group(APP_MAIN), labels={"app.kubernetes.io/managed-by": "runnerkit"})
    [f] = [f for f in audit(rendered_inventory(no_spec), Scope(oidc=spec_facts())).findings
           if f.check == "identity-outside-spec"]
    assert "carries the labels of no spec, not keyless" in f.why
    # a role that does not exist (yet) grants nothing today, but whoever creates it grants it to the job
    missing = rb("web", "to-a-missing-role", "not-there", group(APP_MAIN), labels=web)
    [f] = [f for f in audit(rendered_inventory(missing), Scope(oidc=spec_facts())).findings
           if f.check == "identity-outside-spec"]
    assert (f.binding, f.role, f.rule) == ("RoleBinding/to-a-missing-role -n web", "ClusterRole/not-there", "")
    # the very same binding with the spec's labels is the rendered one: not flagged
    same = {**rb("app", "same-grant", "x", group(APP_MAIN), labels=MANAGED), "roleRef": role_ref}
    assert not [f for f in audit(rendered_inventory(same), Scope(oidc=spec_facts())).findings
                if f.check == "identity-outside-spec"]


def test_the_generated_config_render_audits_clean():
    """What runnerkit renders for the spec (identity RoleBindings included) raises no OIDC finding."""
    inv = rendered_inventory()
    assert not [f for f in audit(inv, Scope(oidc=spec_facts())).findings
                if f.check in ("oidc-authenticated", "identity-outside-spec", "anonymous-grant")]
    assert spec_facts().rendered and spec_facts().spec == "keyless"
    assert any(s["name"].startswith("github:") for b in inv.role_bindings for s in b.get("subjects") or [])


# -- the CLI: how audit learns the issuers, exit codes, -o json|yaml, against the fake client ----------


KINDS = {"cluster_roles": "ClusterRole", "roles": "Role", "cluster_role_bindings": "ClusterRoleBinding",
         "role_bindings": "RoleBinding", "service_accounts": "ServiceAccount", "config_maps": "ConfigMap"}


def run_audit(monkeypatch, inv: Inventory, *argv: str):
    """The CLI against a FakeClient that serves the inventory's objects; it must only list."""
    from runnerkit.cli import diagnose as cli

    client = FakeClient([{**o, "kind": KINDS[attr]} for attr, kind in KINDS.items() for o in getattr(inv, attr)])
    monkeypatch.setattr(cli, "connect", lambda args, concurrency=6: client)
    run = run_cli("audit", *argv)
    assert all(method == "GET" for method, _ in client.requests) and len(client.requests) in (0, 6)
    return run


def test_cli_learns_issuers_from_each_source_and_fails_on_the_finding(monkeypatch, tmp_path):
    inv = inventory(crb("everyone-views", "view", AUTHENTICATED))
    plain = run_audit(monkeypatch, inv, "-o", "json")
    assert plain.code == 0 and json.loads(plain.out)["findings"] == []

    flagged = run_audit(monkeypatch, inv, "--oidc-issuer", GITHUB, "-o", "json")
    assert flagged.code == 1, flagged
    data = json.loads(flagged.out)
    assert set(data) == {"findings", "runnerNamespaces", "audited", "summary"}
    [f] = data["findings"]
    assert (f["check"], f["severity"], f["binding"], f["title"]) == (
        "oidc-authenticated", "HIGH", "ClusterRoleBinding/everyone-views",
        "grant to system:authenticated on a cluster that accepts OIDC tokens")
    assert yaml.safe_load(run_audit(monkeypatch, inv, "--oidc-issuer", GITHUB, "-o", "yaml").out) == data
    assert run_audit(monkeypatch, inv, "--oidc-issuer", GITHUB, "--fail-on", "critical").code == 0

    config = tmp_path / "authn.yaml"
    config.write_text(yaml.safe_dump(authentication_config(SPEC, "1.33")))
    from_file = run_audit(monkeypatch, inv, "--authentication-config", str(config), "-o", "json")
    assert from_file.code == 1
    assert f"accepts tokens from {GITHUB}, https://github.example.com/_services/token, https://gitlab.com, " \
           f"https://gitlab.corp.example ({config})" in json.loads(from_file.out)["findings"][0]["why"]

    from_spec = run_audit(monkeypatch, inv, "--spec", str(FIXTURES / "identities.yaml"))
    assert from_spec.code == 1 and "oidc-authenticated" in from_spec.out
    assert from_spec.out.rstrip().endswith(f"OIDC issuers: {GITHUB}, https://github.example.com/_services/token, "
                                           "https://gitlab.com, https://gitlab.corp.example")

    sarif = json.loads(run_audit(monkeypatch, inv, "--oidc-issuer", GITHUB, "-o", "sarif").out)
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["oidc-authenticated"]


HEADER = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"
BAD_FILES = {  # name -> content; each refused as one line naming the file (and line and field)
    "not_config": "kind: ConfigMap\n",
    "no_url": HEADER + "jwt:\n- issuer: {audiences: [x]}\n",
    "url_not_text": HEADER + "jwt:\n- issuer: {url: [https://gitlab.com]}\n",
    "jwt_not_list": HEADER + "jwt: {issuer: {url: https://gitlab.com}}\n",
    # what yaml.safe_load accepted: aliases (an alias bomb expands exponentially), keys given twice
    "alias": HEADER + "jwt:\n- &a {issuer: {url: https://gitlab.com}}\n- *a\n",
    "twice": HEADER + "jwt: []\njwt:\n- issuer: {url: https://gitlab.com}\n",
    "deep": HEADER + "x: " + "[" * 100 + "]" * 100 + "\n",
    "empty": "# nothing here\n",
    "not_yaml": HEADER + "jwt: [\n",
}


@pytest.mark.parametrize("argv,message", [
    (["--oidc-issuer", "gitlab.com"], "--oidc-issuer 'gitlab.com': write the issuer URL as in the tokens' iss claim"),
    (["--oidc-issuer", "https://gitlab.com extra"], "--oidc-issuer 'https://gitlab.com extra': write the issuer URL"),
    (["--oidc-issuer", "https://gitlab.com/?x=1"], "--oidc-issuer 'https://gitlab.com/?x=1': write the issuer URL"),
    (["--authentication-config", "{missing}"], "{missing}: no such file; pass the file the API server's"),
    (["--authentication-config", "{not_config}"], "{not_config}:1: kind: not an AuthenticationConfiguration"),
    (["--authentication-config", "{no_url}"], "{no_url}:4: jwt[0].issuer.url: missing or not a string"),
    (["--authentication-config", "{url_not_text}"], "{url_not_text}:4: jwt[0].issuer.url: missing or not a string"),
    (["--authentication-config", "{jwt_not_list}"], "{jwt_not_list}:3: jwt: must be a list of authenticators"),
    (["--authentication-config", "{alias}"], "{alias}:4: jwt[1]: YAML anchors and aliases are not supported; write the value out\n"),
    (["--authentication-config", "{twice}"], "{twice}:4: jwt is given twice; keep one"),
    (["--authentication-config", "{deep}"], "{deep}:3: nested more than 64 levels deep"),
    (["--authentication-config", "{empty}"], "{empty}:1: the file is empty; pass the file the API server's "
                                             "--authentication-config names"),
    (["--authentication-config", "{not_yaml}"], "{not_yaml}:4: not valid YAML"),
])
def test_bad_issuer_input_is_one_line_and_exit_2_before_any_request(monkeypatch, tmp_path, argv, message):
    files = {"missing": str(tmp_path / "nope.yaml")}
    for name, text in BAD_FILES.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        files[name] = str(tmp_path / f"{name}.yaml")
    from runnerkit.cli import diagnose as cli

    monkeypatch.setattr(cli, "connect", lambda *a, **k: pytest.fail("no request on bad input"))
    r = run_cli("audit", *[a.format(**files) for a in argv])
    assert r.code == 2 and message.format(**files) in r.err and len(r.err.strip().splitlines()) == 1, r
    assert "runnerkit init" not in r.err and "defaults:" not in r.err  # fixes for runnerkit.yaml, not this file


def test_the_inputs_are_learned_in_the_diagnose_layer(tmp_path):
    """learn() merges the spec's issuers, --oidc-issuer and the file's jwt issuers, each with its source;
    the CLI only passes its arguments."""
    from runnerkit.diagnose.audit_oidc_inputs import learn
    from runnerkit.model.authconfig import authentication_config

    config = tmp_path / "authn.yaml"
    config.write_text(yaml.safe_dump(authentication_config(SPEC, "1.37")))
    facts = learn(SPEC, "rk.yaml", ["https://gitlab.example"], str(config))
    assert facts.issuers == (GITHUB, "https://github.example.com/_services/token", "https://gitlab.com",
                             "https://gitlab.corp.example", "https://gitlab.example")
    assert facts.sources == ("rk.yaml issuers", "--oidc-issuer", str(config))
    assert facts.spec == "keyless" and set(facts.prefixes) == {"github:", "ghes:", "gitlab:", "gitlab-corp:"}
    assert learn(None, "", [], None) == OidcFacts()
    assert learn(SPEC, "rk.yaml", [], None).rendered == spec_facts().rendered
    source = (Path(__file__).parents[3] / "runnerkit" / "cli" / "diagnose.py").read_text()
    assert "safe_load" not in source and "import yaml" not in source  # the CLI parses arguments only


def test_the_table_legend_names_the_severities_found():
    inv = inventory(crb("everyone-views", "view", AUTHENTICATED), crb("everyone-deploys", "deploy", AUTHENTICATED))
    table = audit_report.table(audit(inv, Scope(oidc=FACTS)))
    assert "oidc-authenticated (CRITICAL, HIGH): grant to system:authenticated on a cluster that accepts OIDC tokens" in table
    assert "  fix: bind the role to the groups of the CI identities that need it" in table


def test_an_oidc_flags_spec_counts_its_bound_users_as_declared():
    from runnerkit.desired import render
    from runnerkit.model.validate import loads

    spec = loads("""apiVersion: runnerkit.io/v1alpha1
kind: RunnerkitConfig
metadata: {name: t}
runners: [{name: ci, type: github, namespace: ci}]
issuers:
  - {name: github, audience: https://k.example, owners: [acme], authentication: oidc-flags}
projects:
  - name: app
    runner: ci
    access: [{rules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]}]
    identities: [{issuer: github, repository: acme/app, refs: [refs/heads/main]}]
""", "rk.yaml")
    facts = from_spec(spec, "rk.yaml")
    assert facts.declared == {"github:repo:acme/app:ref:refs/heads/main"}
    rendered = [o for o in render(spec) if o["kind"] == "RoleBinding"]
    assert any(s == {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "github:repo:acme/app:ref:refs/heads/main"}
               for b in rendered for s in b["subjects"])
    by_hand = rb("app", "by-hand", "view", {"kind": "User", "name": "github:repo:acme/app:ref:refs/heads/dev"})
    inv = Inventory(cluster_roles=[VIEW] + [o for o in render(spec) if o["kind"] == "ClusterRole"],
                    roles=[o for o in render(spec) if o["kind"] == "Role"], role_bindings=rendered + [by_hand],
                    service_accounts=[o for o in render(spec) if o["kind"] == "ServiceAccount"])
    assert {(f.check, f.binding) for f in audit(inv, Scope(oidc=facts)).findings} == {
        ("identity-outside-spec", "RoleBinding/by-hand -n app")}
