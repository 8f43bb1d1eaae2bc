#!/usr/bin/env bash
# dev-env.sh prints (creating once) the development settings `make run` uses:
# random JWT and encryption secrets and a development admin, kept in
# .data/dev.env so tokens and encrypted credentials survive restarts.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
env_file="$root/.data/dev.env"
if [ ! -f "$env_file" ]; then
  mkdir -p "$root/.data"
  umask 077
  {
    echo "JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
    echo "ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
    echo "BOOTSTRAP_ADMIN_EMAIL=admin@example.com"
    echo "BOOTSTRAP_ADMIN_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '\n/+=' | cut -c1-16)"
  } > "$env_file"
fi
cat "$env_file"
