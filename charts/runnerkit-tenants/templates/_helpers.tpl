{{/*
runnerkit-tenants.model: the values resolved the way runnerkit's spec loader resolves runnerkit.yaml
(runnerkit/spec.py), as YAML: {specName, runners, projects}. Every template renders from this, so
defaults, {project} names, presets and object names are decided in one place.

- a project's own key replaces the default's; namespaceLabels, namespaceAnnotations and
  serviceAccountAnnotations merge (the project's entries win); lists replace
- "{project}" in namespace / serviceAccount is the project's name
- a grant's namespaces are the project's own, then its targets (no repeats); none when clusterWide
- a grant is named after its preset, "rules-<index>" or its clusterRole unless it has a name:
Whatever values.schema.json cannot see (names after {project} expansion, undeclared runners,
repeated names) fails here with the message `runnerkit validate` prints.
Optional keys are read with get/hasKey: `helm lint --strict` fails on a missing map key.
*/}}
{{- define "runnerkit-tenants.model" -}}
{{- $values := .Values -}}
{{- $catalog := .Files.Get "files/presets.yaml" | fromYaml -}}
{{- $dnsLabel := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" -}}
{{- $dnsSubdomain := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" -}}
{{- $specName := .Values.specName | default .Release.Name -}}
{{- if or (not (regexMatch $dnsLabel $specName)) (gt (len $specName) 63) -}}
{{- fail (printf "specName: %q is not a valid spec name: lowercase letters, digits and '-', at most 63" $specName) -}}
{{- end -}}

{{- $runners := dict -}}
{{- range $i, $r := $values.runners | default list -}}
{{- $type := get $r "type" -}}
{{- if hasKey $runners $r.name -}}
{{- fail (printf "runners[%d].name: runner %q is declared twice; names must be unique" $i $r.name) -}}
{{- end -}}
{{- $release := ternary (get $r "release") (ternary "gitlab-runner" $r.name (eq $type "gitlab")) (hasKey $r "release") -}}
{{- $fullname := $release -}}
{{- if eq $type "gitlab" -}}
{{- /* the gitlab-runner chart's fullname helper: override, else hasPrefix (not contains) */ -}}
{{- if get $r "fullnameOverride" -}}
{{- $fullname = get $r "fullnameOverride" -}}
{{- else if not (hasPrefix "gitlab-runner" $release) -}}
{{- $fullname = printf "%s-gitlab-runner" $release -}}
{{- end -}}
{{- $fullname = regexReplaceAll "-+$" ($fullname | trunc 63) "" -}}
{{- end -}}
{{- $sa := ternary (get $r "serviceAccount") $fullname (hasKey $r "serviceAccount") -}}
{{- $_ := set $runners $r.name (dict "name" $r.name "type" $type "namespace" $r.namespace "release" $release "fullname" $fullname "serviceAccount" $sa) -}}
{{- end -}}

{{- $defaults := $values.defaults | default dict -}}
{{- $projects := list -}}
{{- $byName := dict -}}
{{- $byNamespace := dict -}}
{{- range $i, $raw := $values.projects | default list -}}
{{- $name := $raw.name -}}
{{- $at := printf "projects[%d]" $i -}}
{{- $pick := dict -}}
{{- $from := dict -}}
{{- range $key := list "namespace" "serviceAccount" "runner" "manageNamespace" "automountServiceAccountToken" "imagePullSecrets" "resourceQuota" "limitRange" "access" -}}
{{- if hasKey $raw $key -}}
{{- $_ := set $pick $key (get $raw $key) -}}
{{- $_ := set $from $key (printf "%s.%s" $at $key) -}}
{{- else if hasKey $defaults $key -}}
{{- $_ := set $pick $key (get $defaults $key) -}}
{{- $_ := set $from $key (printf "defaults.%s" $key) -}}
{{- end -}}
{{- end -}}

{{- $namespace := replace "{project}" $name (ternary (get $pick "namespace") "{project}" (hasKey $pick "namespace")) -}}
{{- if or (not (regexMatch $dnsLabel $namespace)) (gt (len $namespace) 63) -}}
{{- fail (printf "%s: %q is not a valid namespace name: lowercase letters, digits and '-', at most 63" (get $from "namespace") $namespace) -}}
{{- end -}}
{{- $sa := replace "{project}" $name (ternary (get $pick "serviceAccount") "{project}-ci" (hasKey $pick "serviceAccount")) -}}
{{- if or (not (regexMatch $dnsSubdomain $sa)) (gt (len $sa) 253) -}}
{{- fail (printf "%s: %q is not a valid ServiceAccount name: lowercase letters, digits, '-' and '.', at most 253" (get $from "serviceAccount") $sa) -}}
{{- end -}}

{{- $runnerName := get $pick "runner" | default "" -}}
{{- $runner := get $runners $runnerName -}}
{{- if not $runner -}}
{{- $known := keys $runners | sortAlpha | join ", " | default "none declared in runners:" -}}
{{- if $runnerName -}}
{{- fail (printf "%s: runner %q is not declared; set runner: to one of: %s" (get $from "runner") $runnerName $known) -}}
{{- else -}}
{{- fail (printf "%s: needs a runner; set runner: to one of: %s" $at $known) -}}
{{- end -}}
{{- end -}}

{{- if hasKey $byName $name -}}
{{- fail (printf "%s.name: repeats project %q of projects[%d]; each project needs its own" $at $name (get $byName $name)) -}}
{{- end -}}
{{- $_ := set $byName $name $i -}}
{{- /* projects may share a namespace; one manages it (reserved ones: none unless stated) */ -}}
{{- $manage := not (has $namespace (list "default" "kube-system" "kube-public" "kube-node-lease")) -}}
{{- if hasKey $pick "manageNamespace" -}}
{{- $manage = eq (toString (get $pick "manageNamespace")) "true" -}}
{{- end -}}
{{- $claims := list (list (printf "sa/%s/%s" $namespace $sa) "serviceAccount" (printf "ServiceAccount %q in namespace %q" $sa $namespace) "give each project its own ServiceAccount") -}}
{{- if $manage -}}
{{- $claims = append $claims (list (printf "ns/%s" $namespace) "namespace" (printf "namespace %q" $namespace) "each project needs its own, or add manageNamespace: false to all but one") -}}
{{- end -}}
{{- range $key := list "resourceQuota" "limitRange" -}}
{{- if get $pick $key -}}
{{- $claims = append $claims (list (printf "%s/%s" $key $namespace) $key (printf "the %s of namespace %q" $key $namespace) (printf "a namespace has one runnerkit %s; keep it on one project" $key)) -}}
{{- end -}}
{{- end -}}
{{- if eq $runner.type "gitlab" -}}
{{- $claims = append $claims (list (printf "gitlab-manager/%s" $namespace) "namespace" (printf "the GitLab runner-manager Role in namespace %q" $namespace) "give each GitLab project its own namespace") -}}
{{- end -}}
{{- range $claim := $claims -}}
{{- if hasKey $byNamespace (index $claim 0) -}}
{{- fail (printf "%s.%s: repeats %s of projects[%d]; %s" $at (index $claim 1) (index $claim 2) (get $byNamespace (index $claim 0)) (index $claim 3)) -}}
{{- end -}}
{{- $_ := set $byNamespace (index $claim 0) $i -}}
{{- end -}}

{{- $grants := list -}}
{{- $grantAt := dict -}}
{{- range $gi, $g := get $pick "access" | default list -}}
{{- $grantName := "" -}}
{{- $rules := list -}}
{{- $clusterRole := "" -}}
{{- if hasKey $g "preset" -}}
{{- $preset := get $catalog.presets $g.preset -}}
{{- if not $preset -}}
{{- fail (printf "%s[%d].preset: %q is not a known preset; known presets: %s" (get $from "access") $gi $g.preset (keys $catalog.presets | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $rules = get $preset "rules" | default list -}}
{{- $clusterRole = get $preset "clusterRole" -}}
{{- $grantName = $g.preset -}}
{{- else if hasKey $g "rules" -}}
{{- range $rule := $g.rules -}}
{{- /* like the spec loader: drop empty lists, but keep apiGroups when written (even []) */ -}}
{{- $clean := dict -}}
{{- range $key := list "apiGroups" "resources" "resourceNames" "verbs" -}}
{{- $items := get $rule $key -}}
{{- if or $items (and (eq $key "apiGroups") (hasKey $rule $key)) -}}
{{- $_ := set $clean $key ($items | default list) -}}
{{- end -}}
{{- end -}}
{{- $rules = append $rules $clean -}}
{{- end -}}
{{- $grantName = printf "rules-%d" $gi -}}
{{- else -}}
{{- $clusterRole = $g.clusterRole -}}
{{- $grantName = $g.clusterRole -}}
{{- end -}}
{{- if hasKey $g "name" -}}
{{- $grantName = $g.name -}}
{{- end -}}
{{- if or (not (regexMatch $dnsLabel $grantName)) (gt (len $grantName) 63) -}}
{{- fail (printf "%s[%d].name: %q is not a valid grant name: lowercase letters, digits and '-', at most 63 (set name: on this grant)" (get $from "access") $gi $grantName) -}}
{{- end -}}
{{- if hasKey $grantAt $grantName -}}
{{- fail (printf "%s[%d]: grant name %q is already used by %s[%d]; give this one a distinct name: (it names the Role and RoleBinding)" (get $from "access") $gi $grantName (get $from "access") (get $grantAt $grantName)) -}}
{{- end -}}
{{- $_ := set $grantAt $grantName $gi -}}
{{- $clusterWide := and (hasKey $g "clusterWide") (eq (toString (get $g "clusterWide")) "true") -}}
{{- $namespaces := list -}}
{{- if not $clusterWide -}}
{{- $namespaces = prepend (get $g "namespaces" | default list) $namespace | uniq -}}
{{- end -}}
{{- $grants = append $grants (dict "name" $grantName "objectName" (ternary (printf "runnerkit-%s-%s-%s" $specName $name $grantName) (printf "runnerkit-%s-%s" $name $grantName) $clusterWide) "rules" $rules "clusterRole" $clusterRole "clusterWide" $clusterWide "namespaces" $namespaces) -}}
{{- end -}}

{{- $project := dict "name" $name "namespace" $namespace "manageNamespace" $manage "serviceAccount" $sa "runner" $runner "grants" $grants -}}
{{- range $key := list "namespaceLabels" "namespaceAnnotations" "serviceAccountAnnotations" -}}
{{- $_ := set $project $key (merge (dict) (get $raw $key | default dict) (get $defaults $key | default dict)) -}}
{{- end -}}
{{- $automount := get $pick "automountServiceAccountToken" -}}
{{- if kindIs "bool" $automount -}}
{{- $_ := set $project "automountServiceAccountToken" $automount -}}
{{- end -}}
{{- $_ := set $project "imagePullSecrets" (get $pick "imagePullSecrets" | default list) -}}
{{- range $key := list "resourceQuota" "limitRange" -}}
{{- with get $pick $key -}}
{{- $_ := set $project $key . -}}
{{- end -}}
{{- end -}}
{{- $gitlab := get $raw "gitlab" | default dict -}}
{{- $github := get $raw "github" | default dict -}}
{{- $_ := set $project "gitlab" (dict "projectIds" (get $gitlab "projectIds" | default list) "groups" (get $gitlab "groups" | default list) "tags" (get $gitlab "tags" | default list)) -}}
{{- $_ := set $project "github" (dict "repository" (get $github "repository" | default "") "environment" (get $github "environment" | default "") "containerMode" (get $github "containerMode" | default "")) -}}
{{- $projects = append $projects $project -}}
{{- end -}}
{{- toYaml (dict "specName" $specName "runners" $runners "projects" $projects) -}}
{{- end -}}

{{/*
runnerkit-tenants.labels: runnerkit's labels (app.kubernetes.io/managed-by=runnerkit, not Helm, so
`runnerkit diff/apply/audit` treat the chart's objects exactly like their own) over the project's
extra labels, over Helm's usual helm.sh/chart and app.kubernetes.io/instance.
Takes (dict "root" $ "spec" SPECNAME "project" NAME "extra" LABELS).
*/}}
{{- define "runnerkit-tenants.labels" -}}
{{- $helm := dict "helm.sh/chart" (printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-") "app.kubernetes.io/instance" .root.Release.Name -}}
{{- $runnerkit := dict "app.kubernetes.io/managed-by" "runnerkit" "runnerkit.io/spec" .spec "runnerkit.io/project" .project -}}
{{- toYaml (merge (dict) $runnerkit (.extra | default dict) $helm) -}}
{{- end -}}

{{/*
runnerkit-tenants.metadata: name, namespace (when given), labels and annotations (when any).
Takes (dict "root" $ "spec" SPECNAME "project" NAME "name" NAME ["namespace" NS] ["extra" LABELS]
["annotations" MAP]).
*/}}
{{- define "runnerkit-tenants.metadata" -}}
name: {{ .name | quote }}
{{- with .namespace }}
namespace: {{ . | quote }}
{{- end }}
labels:
  {{- include "runnerkit-tenants.labels" . | nindent 2 }}
{{- with .annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
runnerkit-tenants.policyServed: "true" when the cluster serves ValidatingAdmissionPolicy (GA in
admissionregistration.k8s.io/v1 since Kubernetes 1.30). `helm template` knows only what
--api-versions tells it.
*/}}
{{- define "runnerkit-tenants.policyServed" -}}
{{- if and (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy") (.Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding") -}}
true
{{- end -}}
{{- end -}}

{{/* GitLab's sanitizeLabel (runnerkit/gitlab/isolation.py sanitize_label). */}}
{{- define "runnerkit-tenants.sanitizeLabel" -}}
{{- regexReplaceAll "[^A-Za-z0-9\\-_.]" . "_" | trimAll "-_." | trunc 63 | trimAll "-_." -}}
{{- end -}}
