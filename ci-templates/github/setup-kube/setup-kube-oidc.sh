#!/usr/bin/env bash
# setup-kube, OIDC mode (input oidc-audience): a kubeconfig whose user is an exec credential plugin
# that fetches the job's own GitHub OIDC ID token whenever kubectl/helm need one. No credential is
# stored: not in a secret, not in the kubeconfig. With runnerkit on PATH the plugin is
# `runnerkit credential github`; without it, oidc-credential.sh (bash, curl, base64) copied under
# $RUNNER_TEMP/setup-kube. With verify, print who the API server maps the token to and what it may
# do in the namespace.
#
# Inputs arrive as env: INPUT_OIDC_AUDIENCE, INPUT_NAMESPACE, INPUT_VERIFY, INPUT_SERVER, INPUT_TOKEN,
# INPUT_CA_DATA, INPUT_CA_PEM.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

audience=$INPUT_OIDC_AUDIENCE
server=${INPUT_SERVER:-}
namespace=${INPUT_NAMESPACE:-}
setup_dir

errors=()
[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] && [ -n "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ] ||
  errors+=("ACTIONS_ID_TOKEN_REQUEST_URL is not set: this job may not request an OIDC ID token; add \`permissions: id-token: write\` to the job (pull requests from forks never get one)")
case $audience in
  *[[:space:]]*) errors+=("oidc-audience '$audience' contains whitespace: use the issuer's audience from runnerkit.yaml exactly") ;;
esac
[ -z "${INPUT_TOKEN:-}" ] ||
  errors+=("the token input and oidc-audience exclude each other: OIDC mode uses the job's own ID token; remove the token input (and its secret)")
if [ -z "$server" ]; then
  errors+=("oidc-audience needs the server input: the API server's https URL (a repository variable, e.g. server: \${{ vars.KUBE_SERVER }})")
elif e=$(server_error "$server") && [ -n "$e" ]; then
  errors+=("$e")
fi
if [ -z "$namespace" ]; then
  errors+=("oidc-audience needs the namespace input: the project's namespace (runnerkit snippet github PROJECT prints it)")
elif e=$(namespace_error "the namespace input" "$namespace") && [ -n "$e" ]; then
  errors+=("$e")
fi
[ -z "${INPUT_CA_DATA:-}" ] || [ -z "${INPUT_CA_PEM:-}" ] ||
  errors+=("certificate-authority and certificate-authority-data both set: give the CA once")
if [ ${#errors[@]} -gt 0 ]; then
  for e in "${errors[@]}"; do error "$e"; done
  exit 1
fi

ca_file=""
if [ -n "${INPUT_CA_PEM:-}" ]; then
  ca_file="$dir/ca.crt"
  printf '%s\n' "$INPUT_CA_PEM" >"$ca_file"
elif [ -n "${INPUT_CA_DATA:-}" ]; then
  decode_ca_data
fi
if [ -n "$ca_file" ] && ! grep -q -- "-----BEGIN CERTIFICATE-----" "$ca_file"; then
  fail "the certificate-authority input holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
fi

# The exec plugin: what kubectl runs, and how this script gets a token for verify.
if command -v runnerkit >/dev/null 2>&1; then
  plugin=(runnerkit credential github --audience "$audience")
  args=(credential kubeconfig github --audience "$audience" --server "$server" -n "$namespace"
    --command "$(command -v runnerkit)" --to "$kubeconfig")
  [ -z "$ca_file" ] || args+=(--ca-file "$ca_file")
  runnerkit "${args[@]}" || fail "runnerkit credential kubeconfig failed (see above)"
  export_kubeconfig
else
  command -v curl >/dev/null 2>&1 ||
    fail "neither runnerkit nor curl is on PATH: one of them must fetch the job's ID token"
  credential="$dir/oidc-credential.sh"
  cp "$here/oidc-credential.sh" "$credential"
  chmod 700 "$credential"
  plugin=("$credential" "$audience")
  cluster="    server: $(quote "${server%/}")"
  [ -z "$ca_file" ] || cluster+=$'\n'"    certificate-authority-data: $(base64 <"$ca_file" | tr -d '\n')"
  write_kubeconfig "$cluster" github-oidc "    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: $(quote "$credential")
      args:
      - $(quote "$audience")
      interactiveMode: Never
      provideClusterInfo: false" "$namespace"
fi
echo "wrote $kubeconfig (mode 600): server $server, namespace $namespace, user: the job's GitHub OIDC ID token for audience $audience, fetched by ${plugin[0]##*/} whenever kubectl or helm need one (nothing stored)"

# One token now: proves the job can get one (permissions, audience) before anything else runs,
# and masks it in the log as @actions/core getIDToken does. Tokens fetched later by kubectl go
# only to kubectl, on the plugin's stdout.
credential_json=$("${plugin[@]}") || fail "could not get an ID token for audience $audience (see above)"
token=$(printf '%s' "$credential_json" | sed -n 's/.*"token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "the credential plugin printed no token"
mask "$token"

[ "$verify" = true ] || exit 0
nothing="this job may do nothing in namespace $namespace: is the identity declared for this repository, ref and environment in runnerkit.yaml, and applied (runnerkit apply)? runnerkit doctor --id-token-env explains a token"
trust="the API server must trust the issuer with audience $audience: runnerkit render --format authentication-config (or oidc-flags / eks-identity-provider), see docs/oidc.md"
if command -v kubectl >/dev/null 2>&1; then
  who=$(KUBECONFIG="$kubeconfig" kubectl auth whoami 2>&1) ||
    fail "the API server rejected the job's ID token (${who##*$'\n'}): $trust"
  echo "identity (SelfSubjectReview):"
  echo "$who"
  verify_kubectl "$namespace" "kubectl auth can-i --list failed in namespace $namespace" "$nothing"
elif ! command -v curl >/dev/null 2>&1; then
  warning "verify skipped: neither kubectl nor curl is on PATH"
else
  code=$(api /apis/authentication.k8s.io/v1/selfsubjectreviews \
    '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}')
  [ "$code" = 201 ] || [ "$code" = 200 ] ||
    fail "the API server answered HTTP $code to the job's SelfSubjectReview: $trust"
  echo "identity (SelfSubjectReview):"
  tr -d ' \n\t' <"$dir/answer.json" | sed 's/.*"userInfo"://; s/}}$//'
  echo
  verify_curl "$namespace" "the job" "$nothing"
fi
