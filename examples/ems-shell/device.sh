#!/bin/sh
# A device in shell + curl talking to outpost-ems over its Unix socket: sets properties, emits an
# event, then answers calls of one service (long-poll) until interrupted.
#
#   SOCK=/etc/outpost-ems/run/local.sock THING=pump-1 SERVICE=reset ./device.sh
#
# Needs curl 7.40+ (--unix-socket). Exit codes: 0 stopped, 1 the EMS refused a request or is down.
set -eu
SOCK=${SOCK:-/etc/outpost-ems/run/local.sock}
THING=${THING:-pump-1}
SERVICE=${SERVICE:-reset}
api() { curl -sS --fail-with-body --unix-socket "$SOCK" -H 'Content-Type: application/json' "$@"; }

# A 200 means the value is on the EMS's disk and reaches the server even if the EMS restarts.
api -X PUT -d '{"value": 21.5}' "http://localhost/things/$THING/properties/temperature" >/dev/null
api -X PUT -d '{"values": {"rpm": 1200, "mode": "auto"}}' "http://localhost/things/$THING/properties" >/dev/null
api -X POST -d '{"data": {"by": "shell"}}' "http://localhost/things/$THING/events/started" >/dev/null
echo "ready"

while :; do
  # 200 with a call, or 204 (empty) when none came within the timeout.
  call=$(api "http://localhost/things/$THING/services/$SERVICE/calls?timeout=25") || exit 1
  [ -z "$call" ] && continue
  id=$(printf '%s' "$call" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  echo "call $id: $call"
  api -X POST -d '{"result": {"reset": true}}' "http://localhost/calls/$id" >/dev/null
  [ "${ONCE:-}" = 1 ] && exit 0
done
