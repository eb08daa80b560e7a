#!/usr/bin/env bash
# oidc-credential.sh AUDIENCE: kubectl exec credential plugin for GitHub Actions jobs without runnerkit.
#
# Requests a fresh OIDC ID token for AUDIENCE the way @actions/core getIDToken does
# (GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUDIENCE, Authorization: Bearer
# $ACTIONS_ID_TOKEN_REQUEST_TOKEN, answer {"value": TOKEN}) and prints it as a
# client.authentication.k8s.io/v1 ExecCredential whose expirationTimestamp is 30 s before the
# token's exp, so kubectl and helm run this again for a new token. The token goes to stdout only
# (to kubectl); errors never contain it. Needs bash, curl, base64, sed, tr, date.
set -euo pipefail

REFRESH_EARLY_SECONDS=30

die() {
  echo "setup-kube oidc-credential: $*" >&2
  exit 1
}

# Percent-encode like encodeURIComponent (unreserved characters kept).
urlencode() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

rfc3339() {
  date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: oidc-credential.sh AUDIENCE"
audience=$1
[ -n "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] && [ -n "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ] ||
  die "ACTIONS_ID_TOKEN_REQUEST_URL is not set: the job may not request an ID token; add \`permissions: id-token: write\` to the job (pull requests from forks never get one)"
command -v curl >/dev/null 2>&1 || die "curl is not on PATH: it fetches the ID token"

url=$ACTIONS_ID_TOKEN_REQUEST_URL
case $url in
  *\?*) url="$url&audience=$(urlencode "$audience")" ;;
  *) url="$url?audience=$(urlencode "$audience")" ;;
esac

# The request token goes to curl on stdin, never on its command line (visible in ps).
answer=$(printf 'Authorization: Bearer %s\n' "$ACTIONS_ID_TOKEN_REQUEST_TOKEN" |
  curl -sS --retry 3 --max-time 30 -H @- -H 'Accept: application/json' -w '\n%{http_code}' "$url" 2>/dev/null) ||
  die "cannot reach GitHub's ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL)"
code=${answer##*$'\n'}
[ "$code" = 200 ] ||
  die "GitHub's ID token endpoint answered HTTP $code: does the job have \`permissions: id-token: write\`?"
token=$(printf '%s' "${answer%$'\n'*}" | tr -d '\r\n' |
  sed -n 's/.*"value"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[[ $token =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$ ]] ||
  die "GitHub's ID token endpoint answered without a JWT in \"value\""

payload=$(printf '%s' "$token" | cut -d. -f2 | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload="$payload="; done
exp=$(printf '%s' "$payload" | base64 -d 2>/dev/null | tr -d '\n' |
  sed -n 's/.*"exp"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
[ -n "$exp" ] || die "the ID token has no exp claim"
now=$(date +%s)
[ "$exp" -gt "$now" ] || die "GitHub's ID token endpoint answered with an expired token (is the clock right?)"
expires=$((exp - REFRESH_EARLY_SECONDS))
[ "$expires" -gt "$now" ] || expires=$now

printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' \
  "$token" "$(rfc3339 "$expires")"
