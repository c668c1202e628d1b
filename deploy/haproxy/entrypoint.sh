#!/bin/sh
# Make a self-signed certificate if none was given, then run HAProxy in the foreground
# (master-worker: a SIGUSR1 stops it after the requests under way).
set -eu
if [ ! -s "$VIGIE_TLS_PEM" ]; then
  echo "vigie-proxy: no certificate at $VIGIE_TLS_PEM; making a self-signed one" >&2
  dir=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=${VIGIE_HOSTNAME:-localhost}" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  cat "$dir/cert.pem" "$dir/key.pem" > "$VIGIE_TLS_PEM"
  rm -rf "$dir"
fi
exec haproxy -W -db -f /etc/haproxy/haproxy.cfg
