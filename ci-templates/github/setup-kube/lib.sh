# lib.sh: what setup-kube.sh and setup-kube-oidc.sh share, sourced by both: workflow-command output,
# input checks, the private directory, the kubeconfig, and verify (what the job may do in its namespace).
# SC2034, SC2154: dir, kubeconfig and verify are set here for the scripts that source this file;
# server, token and ca_file are set by them.
# shellcheck shell=bash disable=SC2034,SC2154

NAMESPACE_RE='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'

# A workflow command's message, escaped as @actions/core escapeData does: an input holding a newline
# could otherwise start a command of its own (::add-mask::, ::set-env::...) on the next line.
escape_data() {
  local s=${1//%/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}

error() {
  printf '::error title=setup-kube::%s\n' "$(escape_data "$*")"
}

warning() {
  printf '::warning title=setup-kube::%s\n' "$(escape_data "$*")"
}

# Masks a secret in the log; escaped as @actions/core setSecret does, so a secret with a line break is
# masked whole instead of ending the command.
mask() {
  printf '::add-mask::%s\n' "$(escape_data "$1")"
}

fail() {
  error "$*"
  exit 1
}

# A YAML double-quoted scalar.
quote() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# namespace_error WHERE NAMESPACE: why NAMESPACE (from WHERE) cannot be used, nothing when it can. It
# must be a Kubernetes name (RFC 1123 label): it is pinned in the kubeconfig and sent in a JSON body.
namespace_error() {
  [[ $2 =~ $NAMESPACE_RE ]] ||
    printf "%s '%s' is not a Kubernetes namespace name: lowercase letters, digits and -, at most 63 characters (runnerkit snippet github PROJECT prints the project's namespace)" \
      "$1" "$2"
}

# server_error URL: why URL cannot be the API server's address, nothing when it can.
server_error() {
  case $1 in
    *[[:space:][:cntrl:]]*) printf "server '%s': must be an https:// URL without whitespace" "$1" ;;
    https://*) ;;
    *) printf 'server %s: must be an https:// URL' "$1" ;;
  esac
}

# Sets dir, kubeconfig and verify; files written from here on are private to the job's user.
setup_dir() {
  dir="$RUNNER_TEMP/setup-kube"
  kubeconfig="$dir/kubeconfig"
  umask 077
  mkdir -p "$dir"
  verify=false
  case "${INPUT_VERIFY:-true}" in
    true | True | TRUE | 1 | yes) verify=true ;;
  esac
}

# The certificate-authority-data input decoded into $dir/ca.crt; sets ca_file.
decode_ca_data() {
  ca_file="$dir/ca.crt"
  printf '%s' "$INPUT_CA_DATA" | base64 -d >"$ca_file" 2>/dev/null ||
    fail "certificate-authority-data is not base64 of a PEM CA bundle"
}

# write_kubeconfig CLUSTER USER_NAME USER NAMESPACE: $kubeconfig (mode 600 by the umask), replaced in
# one step, then exported as KUBECONFIG and the kubeconfig output. CLUSTER and USER are YAML lines
# indented four spaces, under cluster: and user:.
write_kubeconfig() {
  local tmp
  tmp=$(mktemp "$dir/.kubeconfig.XXXXXX")
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
$1
users:
- name: $2
  user:
$3
contexts:
- name: runnerkit
  context:
    cluster: kubernetes
    user: $2
    namespace: $(quote "$4")
current-context: runnerkit
preferences: {}
EOF
  mv -f "$tmp" "$kubeconfig"
  export_kubeconfig
}

# Tells the rest of the job where the kubeconfig is.
export_kubeconfig() {
  echo "KUBECONFIG=$kubeconfig" >>"$GITHUB_ENV"
  echo "kubeconfig=$kubeconfig" >>"${GITHUB_OUTPUT:-/dev/null}"
}

# verify_kubectl NAMESPACE REFUSED NOTHING: list what $kubeconfig may do in NAMESPACE; fail with
# REFUSED when the API server refuses, with NOTHING when it is only what every authenticated user gets
# (the self-reviews, and reading ClusterTrustBundles on 1.33+).
verify_kubectl() {
  local rules
  rules=$(KUBECONFIG="$kubeconfig" kubectl auth can-i --list --namespace "$1") || fail "$2"
  echo "may in namespace $1:"
  echo "$rules"
  awk 'NR > 1 && $1 !~ /^\[/ && $1 !~ /^selfsubject/ && $1 !~ /^clustertrustbundles/ { n++ } END { exit n == 0 }' <<<"$rules" ||
    fail "$3"
}

# api PATH BODY: POST BODY to $server with $token (on curl's stdin, never on its command line) and
# $ca_file if set; the answer goes to $dir/answer.json, the HTTP status to stdout (000: no answer).
api() {
  # HTTP/1.1: over HTTP/2 curl 7.88 reports the API server's 401 as a partial transfer (exit 18).
  printf 'Authorization: Bearer %s\n' "$token" |
    curl -sS --http1.1 -o "$dir/answer.json" -w '%{http_code}' ${ca_file:+--cacert "$ca_file"} -H @- \
      -H 'Content-Type: application/json' -X POST --data "$2" "${server%/}$1" || echo 000
}

# verify_curl NAMESPACE WHO NOTHING: verify_kubectl through a SelfSubjectRulesReview with curl; WHO
# names the account in the error for a refused review.
verify_curl() {
  local code rules
  [[ $1 =~ $NAMESPACE_RE ]] || fail "$(namespace_error namespace "$1")"
  code=$(api /apis/authorization.k8s.io/v1/selfsubjectrulesreviews \
    '{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"'"$1"'"}}')
  [ "$code" = 201 ] || [ "$code" = 200 ] || fail "the API server answered HTTP $code to $2's SelfSubjectRulesReview"
  rules=$(tr -d ' \n\t' <"$dir/answer.json")
  rm -f "$dir/answer.json"
  echo "may in namespace $1 (SelfSubjectRulesReview status):"
  printf '%s\n' "$rules" | sed 's/.*"status"://; s/}$//'
  grep -o '"resources":\["[^"]*"' <<<"$rules" | grep -v selfsubject | grep -q -v clustertrustbundles ||
    fail "$3"
}
