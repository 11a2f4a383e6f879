#!/usr/bin/env bash
# Runs the real lab against Azure: `npm run lab` (pulumi up), `npm run lab -- preview`,
# `npm run lab -- destroy`. Installs the dependencies on a fresh clone, keeps state
# locally (Pulumi.yaml's backend; only PULUMI_BACKEND_URL overrides it), and
# handles the secrets passphrase: PULUMI_CONFIG_PASSPHRASE or _FILE if you set one,
# else one generated on first use and kept in ~/.pulumi-identity-lab/passphrase.
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-up}"
[ $# -gt 0 ] && shift
case "$action" in
  up | preview | destroy | refresh) ;;
  *) echo "usage: npm run lab [-- up|preview|destroy|refresh [pulumi flags]]" >&2; exit 2 ;;
esac

command -v pulumi >/dev/null 2>&1 || {
  echo "The Pulumi CLI is not on PATH: see https://www.pulumi.com/docs/iac/download-install/" >&2
  exit 1
}
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 22 ] || { echo "Node >= 22 is required (this is $(node --version))." >&2; exit 1; }
[ -d node_modules/@pulumi/azure-native ] || npm ci --no-audit --no-fund

state_dir="$HOME/.pulumi-identity-lab"
mkdir -p "$state_dir"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  passphrase_file="$state_dir/passphrase"
  if [ ! -s "$passphrase_file" ]; then
    (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))' >"$passphrase_file")
    echo "Generated the secrets passphrase in $passphrase_file: keep it, destroy needs it."
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
fi

stack="${PULUMI_STACK:-dev}"
pulumi stack select --create "$stack" --non-interactive
pulumi "$action" --stack "$stack" "$@"
