#!/usr/bin/env bash
# dev-env.sh prints (creating once) the development settings `make run` uses:
# random JWT and encryption secrets and a development admin. They are kept
# beside the local database (dev.env next to its data directory), so they
# live and die with it: tokens, encrypted credentials and the admin's
# password stay valid across restarts, and a fresh database gets fresh ones.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$(dirname "$("$root/scripts/pg.sh" dir)")
env_file="$dir/dev.env"
if [ ! -f "$env_file" ]; then
  mkdir -p "$dir"
  umask 077
  {
    echo "JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
    echo "ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
    echo "BOOTSTRAP_ADMIN_EMAIL=admin@example.com"
    echo "BOOTSTRAP_ADMIN_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '\n/+=' | cut -c1-16)"
  } > "$env_file"
fi
cat "$env_file"
