"""runnerkit.yaml's grants: presets, rules and ClusterRoles, checked for the validator (validate.py)."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from . import kvalues, presets
from .spec import Grant
from .yamlsrc import format_path

ROLE_NAME = re.compile(r"^[^/%]+$")
CLUSTER_SCOPED_RESOURCES = {
    "nodes", "namespaces", "persistentvolumes", "clusterroles", "clusterrolebindings",
    "customresourcedefinitions", "storageclasses", "priorityclasses", "certificatesigningrequests",
    "validatingwebhookconfigurations", "mutatingwebhookconfigurations", "nodes/proxy",
}
KNOWN_VERBS = {
    "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
    "use", "bind", "escalate", "impersonate", "approve", "sign", "proxy", "*",
}
GRANT_KEYS = ("preset", "rules", "clusterRole", "name", "namespaces", "clusterWide",
              "allowWildcards", "allowClusterAdmin")
RULE_KEYS = ("apiGroups", "resources", "resourceNames", "verbs")


class GrantChecks:
    """The grant and rule checks; the validator mixes them in and provides the primitives."""

    if TYPE_CHECKING:
        def fail(self, path: tuple, message: str) -> None: ...
        def mapping(self, value: Any, path: tuple, allowed: tuple[str, ...]) -> dict: ...
        def sequence(self, value: Any, path: tuple) -> list: ...
        def string(self, value: Any, path: tuple, pattern: re.Pattern | None = None,
                   max_len: int = 0, what: str = "") -> str | None: ...
        def name(self, value: Any, path: tuple, kind: str) -> str | None: ...
        def boolean(self, value: Any, path: tuple) -> bool: ...

    def grant(self, value: Any, path: tuple, project: str, namespace: str | None,
              allow_default: bool = False) -> Grant | None:
        g = self.mapping(value, path, GRANT_KEYS)
        if not g:
            return None
        forms = [k for k in ("preset", "rules", "clusterRole") if k in g]
        if len(forms) != 1:
            self.fail(path, "must have exactly one of preset, rules or clusterRole"
                      + (f" (found {', '.join(forms)})" if forms else ""))
            return None
        cluster_wide = self.boolean(g["clusterWide"], path + ("clusterWide",)) if "clusterWide" in g else False
        allow_wild = self.boolean(g["allowWildcards"], path + ("allowWildcards",)) if "allowWildcards" in g else False
        allow_admin = (self.boolean(g["allowClusterAdmin"], path + ("allowClusterAdmin",))
                       if "allowClusterAdmin" in g else False)
        targets = [self.name(n, path + ("namespaces", i), "namespace")
                   for i, n in enumerate(self.sequence(g.get("namespaces"), path + ("namespaces",)))]
        for i, target in enumerate(targets):
            if target and (problem := kvalues.reserved_namespace(target, allow_default)):
                self.fail(path + ("namespaces", i), problem)
        if cluster_wide and targets:
            self.fail(path + ("namespaces",), "cannot be combined with clusterWide: true; "
                                              "a cluster-wide grant already covers every namespace")
        rules: tuple[dict, ...] = ()
        cluster_role = None
        form = forms[0]
        if form == "preset":
            preset = presets.PRESETS.get(g["preset"]) if isinstance(g["preset"], str) else None
            if preset is None:
                hint = difflib.get_close_matches(str(g["preset"]), presets.PRESETS, n=1)
                self.fail(path + ("preset",), f"{g['preset']!r} is not a known preset; "
                          + (f"did you mean {hint[0]!r}?" if hint else "known presets: "
                             + ", ".join(presets.PRESETS)))
                return None
            rules, cluster_role = preset.rules, preset.cluster_role
            default_name = preset.name
        elif form == "rules":
            rules = tuple(self.rule(r, path + ("rules", i), allow_wild, cluster_wide)
                          for i, r in enumerate(self.sequence(g["rules"], path + ("rules",))))
            if not rules:
                self.fail(path + ("rules",), "is empty; list at least one rule")
            default_name = f"rules-{path[-1]}"
        else:
            cluster_role = self.string(g["clusterRole"], path + ("clusterRole",), ROLE_NAME, 253,
                                       "ClusterRole name")
            default_name = cluster_role or "invalid"
        if cluster_role == "cluster-admin" and not allow_admin:
            self.fail(path, "binds cluster-admin, which owns everything it can reach; if you really "
                            "mean it, add allowClusterAdmin: true to this grant")
        name = g.get("name", default_name)
        self.name(name, path + ("name",), "grant")
        own = (namespace,) if namespace else ()
        namespaces = () if cluster_wide else tuple(dict.fromkeys(own + tuple(t for t in targets if t)))
        return Grant(name=str(name), namespaces=namespaces, rules=rules, cluster_role=cluster_role,
                     cluster_wide=cluster_wide, source=f"{form} {g[form]!r}" if form != "rules" else "rules")

    def rule(self, value: Any, path: tuple, allow_wildcards: bool, cluster_wide: bool) -> dict:
        r = self.mapping(value, path, RULE_KEYS)
        out: dict = {}
        for key in RULE_KEYS:
            items = self.sequence(r.get(key), path + (key,))
            if any(not isinstance(x, str) for x in items):
                self.fail(path + (key,), "must be a list of strings")
                continue
            if items or key == "apiGroups" and key in r:
                out[key] = list(items)
        if "apiGroups" not in r:
            self.fail(path + ("apiGroups",), "is missing; use [\"\"] for the core API group")
        if not out.get("resources"):
            self.fail(path + ("resources",), "is empty; name the resources, e.g. [pods]")
        verbs = out.get("verbs", [])
        if not verbs:
            self.fail(path + ("verbs",), "is empty; list the verbs to allow, e.g. [get, list]")
        for verb in verbs:
            if verb not in KNOWN_VERBS:
                hint = difflib.get_close_matches(verb, KNOWN_VERBS, n=1)
                self.fail(path + ("verbs",), f"{verb!r} is not a Kubernetes verb"
                          + (f"; did you mean {hint[0]!r}?" if hint else ""))
        scoped = sorted(r for r in out.get("resources", []) if r.partition("/")[0] in CLUSTER_SCOPED_RESOURCES)
        if scoped and not cluster_wide:
            self.fail(path + ("resources",), f"names cluster-scoped {', '.join(scoped)}, which a Role in "
                      "a namespace cannot grant; drop them, or add clusterWide: true to the grant if you "
                      "really mean cluster-wide access")
        if not allow_wildcards:
            for key in ("apiGroups", "resources", "verbs"):
                # `*/exec` or `pods/*` grant as much as `*` over their part
                if any("*" in item for item in out.get(key, [])):
                    self.fail(path + (key,), "contains the wildcard '*', which also grants anything "
                              "added later; list what you need, or add allowWildcards: true to the grant")
        return out

    def unique_grant_names(self, grants: list[tuple[int, Grant]], path: tuple) -> None:
        first: dict[str, int] = {}
        for i, grant in grants:
            if grant.name in first:
                self.fail(path + (i,), f"grant name {grant.name!r} is already used by "
                                       f"{format_path(path + (first[grant.name],))}; give this one a "
                                       "distinct name: (it names the Role and RoleBinding)")
            first.setdefault(grant.name, i)
