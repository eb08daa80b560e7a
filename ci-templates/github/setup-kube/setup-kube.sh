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

here=${BASH_SOURCE[0]%/*}  # plain bash: the action needs no dirname
[ "$here" != "${BASH_SOURCE[0]}" ] || here=.
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
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
  exec bash "$here/setup-kube-oidc.sh"
fi
[ -z "${INPUT_CA_PEM:-}" ] || fail "the certificate-authority input is for OIDC mode (oidc-audience); use certificate-authority-data"
for e in "$(namespace_error "the namespace input" "${INPUT_NAMESPACE:-default}")" "$(server_error "${INPUT_SERVER:-https://}")"; do
  [ -z "$e" ] || fail "$e"
done
sa_dir=$(absolute "${RUNNERKIT_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}")
setup_dir

token_file="$sa_dir/token"
ca_file="$sa_dir/ca.crt"
if [ -n "${INPUT_TOKEN:-}" ]; then
  mask "$INPUT_TOKEN"
  token_file="$dir/token"
  printf '%s' "$INPUT_TOKEN" >"$token_file"
fi
[ -z "${INPUT_CA_DATA:-}" ] || decode_ca_data

if command -v runnerkit >/dev/null 2>&1; then
  args=(kubeconfig --to "$kubeconfig" --shell github)
  [ -z "${INPUT_NAMESPACE:-}" ] || args+=(--namespace "$INPUT_NAMESPACE")
  [ -z "${INPUT_SERVER:-}" ] || args+=(--server "$INPUT_SERVER")
  [ -z "${INPUT_TOKEN:-}" ] || args+=(--token-file "$token_file")
  [ -z "${INPUT_CA_DATA:-}" ] || args+=(--ca-file "$ca_file")
  [ "$verify" = false ] || args+=(--verify)
  runnerkit "${args[@]}" >/dev/null || fail "runnerkit kubeconfig failed (see above)"
  echo "kubeconfig=$kubeconfig" >>"${GITHUB_OUTPUT:-/dev/null}"  # runnerkit --shell github sets KUBECONFIG
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
  for m in "${missing[@]}"; do error "$m"; done
  exit 1
fi
for e in "$(namespace_error "the namespace in $sa_dir/namespace" "$namespace")" "$(server_error "$server")"; do
  [ -z "$e" ] || fail "$e"
done

write_kubeconfig "    server: $(quote "${server%/}")
    certificate-authority: $(quote "$(absolute "$ca_file")")" serviceaccount \
  "    tokenFile: $(quote "$(absolute "$token_file")")" "$namespace"
who=$(subject "$token_file")
echo "wrote $kubeconfig (mode 600): server $server, namespace $namespace, identity ${who:-unknown}"

[ "$verify" = true ] || exit 0
echo "identity: ${who:-unknown (the token is not a JWT)}"
nothing="${who:-this account} may do nothing in namespace $namespace: does the runner pod run as the project's ServiceAccount (runnerkit github patch-runner), and are its grants applied (runnerkit apply)?"
if command -v kubectl >/dev/null 2>&1; then
  verify_kubectl "$namespace" \
    "the API server rejected the credentials of ${who:-this ServiceAccount} (expired, revoked, or for another cluster?)" \
    "$nothing"
elif command -v curl >/dev/null 2>&1; then
  token=$(cat "$token_file")
  verify_curl "$namespace" "${who:-this ServiceAccount}" "$nothing"
else
  warning "verify skipped: neither runnerkit, kubectl nor curl is on PATH"
fi
