#!/usr/bin/env bash
# A self-signed certificate for the compose proxy (deploy/certs/tls.crt, tls.key), for a first start or a test.
# In production, put the certificate of the host HrFlow posts to (e.g. from Let's Encrypt) in deploy/certs.
set -euo pipefail
cd "$(dirname "$0")"
name="${1:-localhost}"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=${name}" \
  -addext "subjectAltName=DNS:${name},IP:127.0.0.1" -keyout certs/tls.key -out certs/tls.crt 2>/dev/null
echo "wrote deploy/certs/tls.crt and tls.key for ${name}"
