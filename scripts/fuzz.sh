#!/usr/bin/env bash
# Fuzz the gateway's OpenAPI spec with schemathesis against a live system (embedded broker,
# a tiny-model inference worker and the analytics sink, development mode on loopback); fails on any 5xx.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${FUZZ_PORT:-18765}
EXAMPLES=${FUZZ_EXAMPLES:-25}
LOG=$(mktemp -t melancia-fuzz.XXXX.log)
export MELANCIA_PORT=$PORT MELANCIA_BASE_MODEL=tiny MELANCIA_MAX_NEW_TOKENS_CAP=8 \
  MELANCIA_HOME=${MELANCIA_HOME:-var} MELANCIA_ENV=development
unset MELANCIA_KAFKA_BOOTSTRAP
.venv/bin/melancia up --workers inference,analytics --broker-port "${FUZZ_BROKER_PORT:-19392}" >"$LOG" 2>&1 &
UP=$!
trap 'kill -INT $UP 2>/dev/null; wait $UP 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 1
done
curl -fs "http://127.0.0.1:$PORT/health" >/dev/null || { echo "system did not become healthy"; tail -50 "$LOG"; exit 1; }
.venv/bin/schemathesis run "http://127.0.0.1:$PORT/openapi.json" \
  --checks not_a_server_error \
  --max-examples "$EXAMPLES" \
  --request-timeout 30 \
  --generation-deterministic \
  --suppress-health-check all
