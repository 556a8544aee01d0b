#!/usr/bin/env bash
set -u
S="$DCOS_STATE"
mkdir -p "$S/accounts" "$S/secrets"
touch "$S/grants" "$S/changes"
printf '%s\n' "$*" >> "$DCOS_LOG"
fail() { printf 'Error: %s\n' "$*" >&2; exit 1; }
# Every change counts; the DCOS_FAIL_AT-th one fails before it changes anything.
change() {
  n=$(( $(cat "$S/changes" | wc -l) + 1 ))
  echo "$*" >> "$S/changes"
  if [ "${DCOS_FAIL_AT:-0}" = "$n" ]; then fail "Post https://dcos.example.com: connection reset by peer"; fi
}
secret_file() { printf '%s/secrets/%s' "$S" "${1#/}"; }
case "$1 ${2:-} ${3:-}" in
  "security --help "*) exit 0 ;;
  "security org service-accounts")
    case "$4" in
      keypair) change keypair; printf 'PRIVATE %s\n' "$RANDOM$RANDOM$$" > "$5"; sed 's/PRIVATE/PUBLIC/' "$5" > "$6" ;;
      create)
        pub="" desc="" id=""
        shift 4
        while [ $# -gt 0 ]; do case "$1" in -p) pub=$2; shift 2 ;; -d) desc=$2; shift 2 ;; *) id=$1; shift ;; esac; done
        [ -e "$S/accounts/$id" ] && fail "HTTP 409: User with uid \`$id\` already exists. ERR_USER_EXISTS"
        [ -r "$pub" ] || fail "cannot read $pub"
        change "account $id"
        cp "$pub" "$S/accounts/$id" ;;
      show) [ -e "$S/accounts/$5" ] || fail "HTTP 400: User with uid \`$5\` not found. ERR_UNKNOWN_USER_ID"; echo "uid: $5" ;;
      delete)
        [ -e "$S/accounts/$5" ] || fail "HTTP 400: ERR_UNKNOWN_USER_ID"
        change "delete account $5"; rm -f "$S/accounts/$5"; grep -v "^$5 " "$S/grants" > "$S/grants.new"; mv "$S/grants.new" "$S/grants" ;;
      *) fail "fake dcos: unknown command: $*" ;;
    esac ;;
  "security org users")
    case "$4" in
      grant)
        grep -qxF "$5 $6 $7" "$S/grants" && fail "HTTP 409: Permission \`$7\` on \`$6\` already exists for \`$5\`."
        change "grant $5 $6 $7"; echo "$5 $6 $7" >> "$S/grants" ;;
      revoke)
        grep -qxF "$5 $6 $7" "$S/grants" || fail "HTTP 400: no such permission"
        change "revoke $5 $6 $7"; grep -vxF "$5 $6 $7" "$S/grants" > "$S/grants.new"; mv "$S/grants.new" "$S/grants" ;;
      *) fail "fake dcos: unknown command: $*" ;;
    esac ;;
  "security secrets create-sa-secret")
    shift 3
    [ "$1" = "--strict" ] && shift
    f=$(secret_file "$3")
    [ -e "$f" ] && fail "HTTP 409: Secret \`$3\` already exists."
    [ -r "$1" ] || fail "cannot read $1"
    [ -e "$S/accounts/$2" ] || fail "HTTP 400: ERR_UNKNOWN_USER_ID"
    change "secret $3"; mkdir -p "$(dirname "$f")"; printf '{"uid":"%s","private_key":"%s"}' "$2" "$(cat "$1")" > "$f" ;;
  "security secrets create")
    shift 3
    value=""
    while [ $# -gt 1 ]; do case "$1" in --value=*) value=${1#--value=}; shift ;; -v|--value) value=$2; shift 2 ;; -f) value=$(cat "$2"); shift 2 ;; *) shift ;; esac; done
    f=$(secret_file "$1")
    [ -e "$f" ] && fail "HTTP 409: Secret \`$1\` already exists."
    change "secret $1"; mkdir -p "$(dirname "$f")"; printf '%s' "$value" > "$f" ;;
  "security secrets get")
    f=$(secret_file "$4")
    [ -f "$f" ] || fail "HTTP 404: Secret \`$4\` does not exist."
    cat "$f" ;;
  "security secrets delete")
    f=$(secret_file "$4")
    [ -f "$f" ] || fail "HTTP 404: Secret \`$4\` does not exist."
    change "delete secret $4"; rm -f "$f" ;;
  "security secrets list")
    d=$(secret_file "$4")
    [ -d "$d" ] && (cd "$d" && find . -type f | sed 's|^\./|- |' | sort) ;;
  *) fail "fake dcos: unknown command: $*" ;;
esac
exit 0
