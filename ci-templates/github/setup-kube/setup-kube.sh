#!/usr/bin/env bash
# setup-kube: write a kubeconfig for this job from the runner pod's ServiceAccount (or the given
# server/token/CA), export KUBECONFIG through $GITHUB_ENV and set the `kubeconfig` output; with
# verify, print who the job is and what it may do in the namespace.
#
# Inputs arrive as env: INPUT_NAMESPACE, INPUT_VERIFY, INPUT_SERVER, INPUT_TOKEN, INPUT_CA_DATA (and
# INPUT_OIDC_AUDIENCE, INPUT_CA_PEM: with an audience, setup-kube-oidc.sh does the job's OIDC mode).
# With runnerkit on PATH this is `runnerkit kubeconfig`; without it, plain shell writes the same
# kubeconfig. RUNNERKIT_SA_DIR overrides the ServiceAccount mount (tests, unusual runners).
set -euo pipefail

fail() {
  echo "::error title=setup-kube::$*"
  exit 1
}

absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

# A YAML double-quoted scalar.
quote() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# The token's "sub" claim (who it is), decoded locally; never the token itself.
subject() {
  local payload
  payload=$(cut -d. -f2 <"$1" | tr '_-' '/+')
  case $((${#payload} % 4)) in
    2) payload="$payload==" ;;
    3) payload="$payload=" ;;
  esac
  printf '%s' "$payload" | base64 -d 2>/dev/null | sed -n 's/.*"sub":"\([^"]*\)".*/\1/p' || true
}

[ -n "${RUNNER_TEMP:-}" ] || fail "RUNNER_TEMP is not set: run this action inside a GitHub Actions job"
[ -n "${GITHUB_ENV:-}" ] || fail "GITHUB_ENV is not set: run this action inside a GitHub Actions job"
if [ -n "${INPUT_OIDC_AUDIENCE:-}" ]; then
  exec bash "$(dirname "${BASH_SOURCE[0]}")/setup-kube-oidc.sh"
fi
[ -z "${INPUT_CA_PEM:-}" ] || fail "the certificate-authority input is for OIDC mode (oidc-audience); use certificate-authority-data"
sa_dir=$(absolute "${RUNNERKIT_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}")
dir="$RUNNER_TEMP/setup-kube"
kubeconfig="$dir/kubeconfig"
umask 077
mkdir -p "$dir"

verify=false
case "${INPUT_VERIFY:-true}" in
  true | True | TRUE | 1 | yes) verify=true ;;
esac

token_file="$sa_dir/token"
ca_file="$sa_dir/ca.crt"
if [ -n "${INPUT_TOKEN:-}" ]; then
  echo "::add-mask::$INPUT_TOKEN"
  token_file="$dir/token"
  printf '%s' "$INPUT_TOKEN" >"$token_file"
fi
if [ -n "${INPUT_CA_DATA:-}" ]; then
  ca_file="$dir/ca.crt"
  printf '%s' "$INPUT_CA_DATA" | base64 -d >"$ca_file" 2>/dev/null ||
    fail "certificate-authority-data is not base64 of a PEM CA bundle"
fi

if command -v runnerkit >/dev/null 2>&1; then
  args=(kubeconfig --to "$kubeconfig" --shell github)
  [ -z "${INPUT_NAMESPACE:-}" ] || args+=(--namespace "$INPUT_NAMESPACE")
  [ -z "${INPUT_SERVER:-}" ] || args+=(--server "$INPUT_SERVER")
  [ -z "${INPUT_TOKEN:-}" ] || args+=(--token-file "$token_file")
  [ -z "${INPUT_CA_DATA:-}" ] || args+=(--ca-file "$ca_file")
  [ "$verify" = false ] || args+=(--verify)
  runnerkit "${args[@]}" >/dev/null || fail "runnerkit kubeconfig failed (see above)"
  echo "kubeconfig=$kubeconfig" >>"${GITHUB_OUTPUT:-/dev/null}"
  exit 0
fi

# Without runnerkit: the same kubeconfig, from plain shell.
server=${INPUT_SERVER:-}
if [ -z "$server" ] && [ -n "${KUBERNETES_SERVICE_HOST:-}" ]; then
  host=$KUBERNETES_SERVICE_HOST
  case $host in
    \[*) ;;
    *:*) host="[$host]" ;;
  esac
  server="https://$host:${KUBERNETES_SERVICE_PORT:-443}"
fi
namespace=${INPUT_NAMESPACE:-}
if [ -z "$namespace" ] && [ -r "$sa_dir/namespace" ]; then
  namespace=$(cat "$sa_dir/namespace")
fi

missing=()
[ -n "$server" ] || missing+=("no API server address: KUBERNETES_SERVICE_HOST is not set (not a pod?); set the server input")
[ -s "$token_file" ] || missing+=("$token_file does not exist: no ServiceAccount token mounted (automountServiceAccountToken: false?); set the token input")
grep -q -- "-----BEGIN CERTIFICATE-----" "$ca_file" 2>/dev/null ||
  missing+=("$ca_file holds no CA certificate: no ServiceAccount mounted?; set certificate-authority-data")
[ -n "$namespace" ] || missing+=("no namespace: $sa_dir/namespace does not exist; set the namespace input")
if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do echo "::error title=setup-kube::$m"; done
  exit 1
fi
case $server in
  https://*) ;;
  *) fail "server $server: must be an https:// URL" ;;
esac

tmp=$(mktemp "$dir/.kubeconfig.XXXXXX")
cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: $(quote "${server%/}")
    certificate-authority: $(quote "$(absolute "$ca_file")")
users:
- name: serviceaccount
  user:
    tokenFile: $(quote "$(absolute "$token_file")")
contexts:
- name: runnerkit
  context:
    cluster: kubernetes
    user: serviceaccount
    namespace: $(quote "$namespace")
current-context: runnerkit
preferences: {}
EOF
mv -f "$tmp" "$kubeconfig"
echo "KUBECONFIG=$kubeconfig" >>"$GITHUB_ENV"
echo "kubeconfig=$kubeconfig" >>"${GITHUB_OUTPUT:-/dev/null}"
who=$(subject "$token_file")
echo "wrote $kubeconfig (mode 600): server $server, namespace $namespace, identity ${who:-unknown}"

[ "$verify" = true ] || exit 0
echo "identity: ${who:-unknown (the token is not a JWT)}"
if command -v kubectl >/dev/null 2>&1; then
  rules=$(KUBECONFIG="$kubeconfig" kubectl auth can-i --list --namespace "$namespace") ||
    fail "the API server rejected the credentials of ${who:-this ServiceAccount} (expired, revoked, or for another cluster?)"
  echo "may in namespace $namespace:"
  echo "$rules"
  # Rows whose first column is a resource other than what every authenticated user gets (the
  # self-reviews, and reading ClusterTrustBundles on 1.33+).
  awk 'NR > 1 && $1 !~ /^\[/ && $1 !~ /^selfsubject/ && $1 !~ /^clustertrustbundles/ { n++ } END { exit n == 0 }' <<<"$rules" ||
    fail "${who:-this account} may do nothing in namespace $namespace: does the runner pod run as the project's ServiceAccount (runnerkit github patch-runner), and are its grants applied (runnerkit apply)?"
elif command -v curl >/dev/null 2>&1; then
  header="$dir/.authorization"
  printf 'Authorization: Bearer %s\n' "$(cat "$token_file")" >"$header"
  body='{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"'$namespace'"}}'
  # HTTP/1.1: over HTTP/2 curl 7.88 reports the API server's 401 as a partial transfer (exit 18).
  code=$(curl -sS --http1.1 -o "$dir/rules.json" -w '%{http_code}' --cacert "$ca_file" -H "@$header" \
    -H 'Content-Type: application/json' -X POST --data "$body" \
    "${server%/}/apis/authorization.k8s.io/v1/selfsubjectrulesreviews") || code=000
  rm -f "$header"
  [ "$code" = 201 ] || [ "$code" = 200 ] ||
    fail "the API server answered HTTP $code to ${who:-this ServiceAccount}'s SelfSubjectRulesReview"
  rules=$(tr -d ' \n\t' <"$dir/rules.json")
  rm -f "$dir/rules.json"
  echo "may in namespace $namespace (SelfSubjectRulesReview status):"
  printf '%s\n' "$rules" | sed 's/.*"status"://; s/}$//'
  grep -o '"resources":\["[^"]*"' <<<"$rules" | grep -v selfsubject | grep -q -v clustertrustbundles ||
    fail "${who:-this account} may do nothing in namespace $namespace: does the runner pod run as the project's ServiceAccount (runnerkit github patch-runner), and are its grants applied (runnerkit apply)?"
else
  echo "::warning title=setup-kube::verify skipped: neither runnerkit, kubectl nor curl is on PATH"
fi
