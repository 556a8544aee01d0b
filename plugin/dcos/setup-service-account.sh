#!/usr/bin/env bash
# Create the DC/OS service account pxd-auth-proxy logs in with, store its credential where Marathon
# can inject it, grant it read access to the token secrets, and full access to the folder where the
# proxy records each -o token_secret reference for every agent. Run it once per cluster.
#
# Safe to run again, for example after a step failed: each step first checks what exists. An existing
# key pair in KEY_DIR is reused, an existing account, credential secret or shared-secret secret is kept
# (never overwritten), and a grant the account holds already is left as it is.
#
# Needs: the DC/OS CLI with the Enterprise CLI, logged in as a superuser:
#   dcos package install --cli dcos-enterprise-cli --yes
#   dcos auth login
#
# Parameters (environment variables, defaults in brackets):
#   SERVICE_ACCOUNT     id of the account                          [pxd-auth-proxy]
#   CREDENTIAL_SECRET   secret that receives its credential        [pxd-auth-proxy/service-account-secret]
#                       (Marathon app /pxd-auth-proxy may only read secrets under pxd-auth-proxy/)
#   SECRETS_BASE_PATH   folder of the token secrets                [pwx/secrets]
#                       (must equal DCOS_SECRETS_BASE_PATH of the proxy)
#   REFERENCES_PATH     folder of the volume references            [pxd-auth-proxy/volumes]
#                       (must equal --references-path / PXD_AUTH_REFERENCES_PATH of the proxy;
#                       none: no grant, the proxy then runs with --references-path none)
#   FLEET_CONFIG        the fleet document, read by every proxy    [pxd-auth-proxy/fleet]
#                       (must equal --fleet-config / PXD_AUTH_FLEET_CONFIG; read only, so the account
#                       can never rewrite the policy it enforces; none: no grant)
#   KEY_DIR             where the key pair is written              [./pxd-auth-proxy-keys]
#   SHARED_SECRET_FILE  optional: file with pxd's JWT shared secret; stored as SHARED_SECRET_SECRET
#   SHARED_SECRET_SECRET                                           [pxd-auth-proxy/jwt-shared-secret]
#
# Example:
#   SECRETS_BASE_PATH=pwx/secrets SHARED_SECRET_FILE=./shared-secret ./setup-service-account.sh
#
# Docs: docs/dcos-permissions.md.
set -euo pipefail

SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-pxd-auth-proxy}"
CREDENTIAL_SECRET="${CREDENTIAL_SECRET:-pxd-auth-proxy/service-account-secret}"
SECRETS_BASE_PATH="${SECRETS_BASE_PATH:-pwx/secrets}"
REFERENCES_PATH="${REFERENCES_PATH:-pxd-auth-proxy/volumes}"
FLEET_CONFIG="${FLEET_CONFIG:-pxd-auth-proxy/fleet}"
FLEET_CONFIG="${FLEET_CONFIG#/}"
KEY_DIR="${KEY_DIR:-./pxd-auth-proxy-keys}"
SHARED_SECRET_FILE="${SHARED_SECRET_FILE:-}"
SHARED_SECRET_SECRET="${SHARED_SECRET_SECRET:-pxd-auth-proxy/jwt-shared-secret}"

# Normalise the base path: no leading or trailing "/".
SECRETS_BASE_PATH="${SECRETS_BASE_PATH#/}"
SECRETS_BASE_PATH="${SECRETS_BASE_PATH%/}"
PERMISSION="dcos:secrets:default:/${SECRETS_BASE_PATH}/*"
REFERENCES_PATH="${REFERENCES_PATH#/}"
REFERENCES_PATH="${REFERENCES_PATH%/}"
REFERENCES_PERMISSION="dcos:secrets:default:/${REFERENCES_PATH}/*"

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# True when the DC/OS CLI reports that what it was asked to create exists already.
already() { grep -qiE 'already exists|already granted|ERR_USER_EXISTS|ERR_ALREADY_EXISTS|HTTP 409' <<<"$1"; }
account_exists() { dcos security org service-accounts show "$SERVICE_ACCOUNT" >/dev/null 2>&1; }
# The value goes to /dev/null: only whether the secret exists matters here.
secret_exists() { dcos security secrets get "$1" >/dev/null 2>&1; }
# Grant, or keep a grant the account holds already. Any other error stops the script.
grant() {
  local out
  if ! out=$(dcos security org users grant "$SERVICE_ACCOUNT" "$1" "$2" 2>&1); then
    already "$out" || die "granting $1 $2 to $SERVICE_ACCOUNT failed: $out"
    note "granted already"
  fi
}
# True when one path is the other or lies under it.
overlap() { [ "$1" = "$2" ] || [ "${1#"$2"/}" != "$1" ] || [ "${2#"$1"/}" != "$2" ]; }

# 0. Preconditions: the Enterprise CLI is there, and nothing would be overwritten.
command -v dcos >/dev/null || die "the dcos CLI is not on PATH"
dcos security --help >/dev/null 2>&1 || die "the DC/OS Enterprise CLI is missing: dcos package install --cli dcos-enterprise-cli --yes"
[ -n "$SECRETS_BASE_PATH" ] || die "SECRETS_BASE_PATH is empty: the proxy must not read the whole Secret Store"
# The references folder gets full (create, read, update, delete): it must hold nothing but the records.
if [ "$REFERENCES_PATH" != "none" ]; then
  [ -n "$REFERENCES_PATH" ] || die "REFERENCES_PATH is empty: the proxy must not write the whole Secret Store (none turns the references off)"
  for other in "$SECRETS_BASE_PATH" "$CREDENTIAL_SECRET" "$SHARED_SECRET_SECRET"; do
    if overlap "$REFERENCES_PATH" "$other"; then
      die "REFERENCES_PATH=$REFERENCES_PATH overlaps $other: the account gets full access to that folder, so it must hold only the proxy's records; choose a folder of its own (default pxd-auth-proxy/volumes)"
    fi
  done
fi
PRIVATE_KEY="$KEY_DIR/private-key.pem"
PUBLIC_KEY="$KEY_DIR/public-key.pem"
umask 077
ACCOUNT_EXISTED=false
account_exists && ACCOUNT_EXISTED=true
CREDENTIAL_EXISTED=false
secret_exists "$CREDENTIAL_SECRET" && CREDENTIAL_EXISTED=true
if $ACCOUNT_EXISTED && ! $CREDENTIAL_EXISTED && [ ! -e "$PRIVATE_KEY" ]; then
  die "service account $SERVICE_ACCOUNT exists, but neither the secret $CREDENTIAL_SECRET nor its private key $PRIVATE_KEY: set KEY_DIR to the folder of the key pair it was created with, or delete the account first (dcos security org service-accounts delete $SERVICE_ACCOUNT)"
fi

# 1. A 2048-bit RSA key pair. The private key never leaves KEY_DIR except inside the credential secret.
#    Not needed for an account that exists with its credential; reused when KEY_DIR holds one.
if $ACCOUNT_EXISTED && $CREDENTIAL_EXISTED; then
  step "Key pair: not needed, the account $SERVICE_ACCOUNT and its credential exist"
elif [ -e "$PRIVATE_KEY" ]; then
  step "Reusing the key pair in $KEY_DIR"
  [ -e "$PUBLIC_KEY" ] || $ACCOUNT_EXISTED || die "$PUBLIC_KEY is missing beside $PRIVATE_KEY: move the private key away to create a new pair"
else
  step "Creating the key pair in $KEY_DIR"
  mkdir -p "$KEY_DIR"
  dcos security org service-accounts keypair "$PRIVATE_KEY" "$PUBLIC_KEY"
fi

# 2. The service account, registered with the public key.
if $ACCOUNT_EXISTED; then
  step "The service account $SERVICE_ACCOUNT exists: kept"
else
  step "Creating the service account $SERVICE_ACCOUNT"
  dcos security org service-accounts create -p "$PUBLIC_KEY" \
    -d "pxd-auth-proxy: reads token secrets under /$SECRETS_BASE_PATH" "$SERVICE_ACCOUNT"
fi
dcos security org service-accounts show "$SERVICE_ACCOUNT"

# 3. The credential secret: {"uid","private_key","login_endpoint","scheme"}, injected by Marathon as
#    DCOS_SERVICE_ACCOUNT_CREDENTIAL. --strict makes the login endpoint https://, which the proxy
#    requires; it works in every security mode. A credential left from an account that no longer
#    existed holds another key: it is replaced.
if $ACCOUNT_EXISTED && $CREDENTIAL_EXISTED; then
  step "The credential secret $CREDENTIAL_SECRET exists: kept"
else
  step "Storing the credential in the secret $CREDENTIAL_SECRET"
  if $CREDENTIAL_EXISTED; then
    note "it holds the key of an earlier account $SERVICE_ACCOUNT: replacing it"
    dcos security secrets delete "$CREDENTIAL_SECRET"
  fi
  dcos security secrets create-sa-secret --strict "$PRIVATE_KEY" "$SERVICE_ACCOUNT" "$CREDENTIAL_SECRET"
fi

# 4. Read the token secrets under the base path. Not list, not write, nothing outside the base path.
#    (The quotes keep the shell from expanding "*".)
step "Granting $SERVICE_ACCOUNT: $PERMISSION read"
grant "$PERMISSION" read

# 5. The cluster's volume references: a record per volume created with -o token_secret (a secret path,
#    never a token), created at Create, read by the agents that mount the volume, deleted at Remove.
#    full, because those are three actions (create, read, delete) on one folder of the proxy's own.
if [ "$REFERENCES_PATH" = "none" ]; then
  step "Not granting the references folder (REFERENCES_PATH=none): run the proxy with --references-path none"
else
  step "Granting $SERVICE_ACCOUNT: $REFERENCES_PERMISSION full"
  grant "$REFERENCES_PERMISSION" full
fi

# 6. The fleet document (policy, issuers, volumeSecrets for every agent): read, and nothing more.
if [ "$FLEET_CONFIG" = "none" ]; then
  step "Not granting a fleet document (FLEET_CONFIG=none)"
else
  step "Granting $SERVICE_ACCOUNT: dcos:secrets:default:/$FLEET_CONFIG read"
  grant "dcos:secrets:default:/$FLEET_CONFIG" read
fi

# 7. Optional: pxd's JWT shared secret, for the Marathon app (env PORTWORX_AUTH_JWT_SHAREDSECRET).
#    --value puts it on this machine's process list for a moment; run this on an admin host.
#    An existing secret is kept: change it with dcos security secrets update.
if [ -n "$SHARED_SECRET_FILE" ]; then
  [ -r "$SHARED_SECRET_FILE" ] || die "cannot read SHARED_SECRET_FILE=$SHARED_SECRET_FILE"
  if secret_exists "$SHARED_SECRET_SECRET"; then
    step "The secret $SHARED_SECRET_SECRET exists: kept (to change it: dcos security secrets update --value=... $SHARED_SECRET_SECRET)"
  else
    step "Storing the JWT shared secret from $SHARED_SECRET_FILE in the secret $SHARED_SECRET_SECRET"
    dcos security secrets create --value="$(tr -d '\r\n' < "$SHARED_SECRET_FILE")" "$SHARED_SECRET_SECRET"
  fi
fi

step "Done"
cat <<EOF
Service account:  $SERVICE_ACCOUNT (may read $PERMISSION)
References:       $([ "$REFERENCES_PATH" = "none" ] && echo "none (--references-path none)" || echo "$REFERENCES_PERMISSION full (--references-path $REFERENCES_PATH)")
Credential:       secret $CREDENTIAL_SECRET
Key pair:         $([ -e "$PRIVATE_KEY" ] && echo "$PRIVATE_KEY, $PUBLIC_KEY (keep the private key offline, or delete it)" || echo "none written (the account and its credential existed)")

Next:
  - Marathon: dcos marathon app add plugin/dcos/pxd-auth-proxy.marathon.json
  - systemd:  copy $PRIVATE_KEY to /etc/pxd-auth-proxy/private-key.pem (mode 0600) on each agent
  - Store tokens: dcos security secrets create --value="\$(cat user1.jwt)" $SECRETS_BASE_PATH/user1-token
  - Check on an agent: pxd-auth-proxy doctor (login, base path, volume references)

Denied requests show in the DC/OS audit log on the masters:
  journalctl -u "dcos-*" | grep audit | grep "$SERVICE_ACCOUNT" | grep deny
EOF
