#!/usr/bin/env bash
# The local cluster (`./tandem demo`): one proxy in DistServe mode, one prefill agent and one decode agent on the
# generated default model, all on 127.0.0.1; sends one chat request through the prefill/decode path and prints the
# answer, time to first token, KV blocks migrated and migration bandwidth; stops everything it started on exit,
# Ctrl-C included.
#
#   ./tandem demo [--prompt TEXT] [--max-tokens N] [--keep]     (--keep: leave the cluster running until Ctrl-C)
#   environment: TANDEM_DEMO_PROXY_PORT (18000), TANDEM_DEMO_PREFILL_PORT (23401), TANDEM_DEMO_DECODE_PORT (23402),
#                TANDEM_DEMO_MODEL (models/tandem-small-q8_0.gguf), TANDEM_DEMO_LOGS (.tandem/demo)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

PROMPT="Tell me a short story about two engines that shared the work."
MAX_TOKENS=48
KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prompt) PROMPT="$2"; shift 2 ;;
    --max-tokens) MAX_TOKENS="$2"; shift 2 ;;
    --keep) KEEP=yes; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option '$1'" >&2; exit 2 ;;
  esac
done

PROXY_PORT="${TANDEM_DEMO_PROXY_PORT:-18000}"
PREFILL_PORT="${TANDEM_DEMO_PREFILL_PORT:-23401}"
DECODE_PORT="${TANDEM_DEMO_DECODE_PORT:-23402}"
MODEL="${TANDEM_DEMO_MODEL:-models/tandem-small-q8_0.gguf}"
LOGS="${TANDEM_DEMO_LOGS:-.tandem/demo}"
TOKEN="demo-$RANDOM$RANDOM"
ADMIN="admin-$RANDOM$RANDOM"
PROXY="http://127.0.0.1:$PROXY_PORT"
PREFILL="http://127.0.0.1:$PREFILL_PORT"
DECODE="http://127.0.0.1:$DECODE_PORT"
mkdir -p "$LOGS"

PIDS=()
cleanup() {
  trap - EXIT INT TERM
  if [ ${#PIDS[@]} -gt 0 ]; then
    echo "demo: stopping ${#PIDS[@]} processes (${PIDS[*]})" >&2
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in "$PROXY_PORT" "$PREFILL_PORT" "$DECODE_PORT"; do
  if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then
    echo "demo: port $port is already in use; set TANDEM_DEMO_*_PORT" >&2; exit 1
  fi
done

echo "demo: building (first run only) ..." >&2
./tandem agent --help >/dev/null
./tandem proxy --help >/dev/null
if [ ! -f "$MODEL" ]; then
  echo "demo: generating $MODEL (seeded random weights) ..." >&2
  mkdir -p "$(dirname "$MODEL")"
  ./tandem gguf-gen --preset small --type q8_0 -o "$MODEL" >&2
fi

start() { # name, command...
  local name="$1"; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
  echo "demo: started $name (pid $!, log $LOGS/$name.log)" >&2
}
start proxy ./tandem proxy --host 127.0.0.1 --port "$PROXY_PORT" --mode distserve --cluster-token "$TOKEN" \
  --admin-key "$ADMIN" --migration-protocol rdma
start prefill ./tandem agent --model "$MODEL" --host 127.0.0.1 --port "$PREFILL_PORT" --role prefill \
  --cluster-token "$TOKEN" --kv-blocks 256 --block-size 16
start decode ./tandem agent --model "$MODEL" --host 127.0.0.1 --port "$DECODE_PORT" --role decode \
  --cluster-token "$TOKEN" --kv-blocks 256 --block-size 16

wait_healthy() { # url, name
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$1/health" && return 0
    sleep 0.2
  done
  echo "demo: $2 did not become healthy in 120 s; its log:" >&2; tail -n 30 "$LOGS/$2.log" >&2; exit 1
}
wait_healthy "$PROXY" proxy; wait_healthy "$PREFILL" prefill; wait_healthy "$DECODE" decode
echo "demo: proxy, prefill and decode are healthy" >&2

auth=(-H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json")
curl -sf "${auth[@]}" "$PROXY/nodes/add" -d "{\"url\":\"$PREFILL\",\"status\":{\"role\":2}}" >/dev/null
curl -sf "${auth[@]}" "$PROXY/nodes/add" -d "{\"url\":\"$DECODE\",\"status\":{\"role\":3}}" >/dev/null
echo "demo: pair warm-up: $(curl -s "${auth[@]}" -X POST "$PROXY/distserve/connection_warmup")" >&2
MODEL_NAME=$(curl -s "$PROXY/v1/models" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n 1)

metric() { # base url, series name: the sum over its lines
  curl -s "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%.0f", s + 0 }'
}
bytes_before=$(metric "$DECODE" "tandem:kv_migration_bytes_total")
secs_before=$(curl -s "$DECODE/metrics" | awk '$1 ~ /^tandem:kv_migration_seconds_sum/ { s += $NF } END { printf "%.6f", s + 0 }')

body=$(printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%d,"temperature":0,"stream":true}' \
  "$MODEL_NAME" "${PROMPT//\"/\\\"}" "$MAX_TOKENS")
echo
echo "prompt: $PROMPT"
printf 'answer: '
t0=$(date +%s%N); ttft=""
answer=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    data:\ \[DONE\]*) break ;;
    *'"error"'*) echo; echo "demo: the stream ended with an error: $line" >&2; exit 1 ;;
    *'"content":"'*)
      piece=$(printf '%s' "$line" | sed -n 's/.*"content":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
      if [ -n "$piece" ]; then
        [ -z "$ttft" ] && ttft=$(( ($(date +%s%N) - t0) / 1000000 ))
        printf '%b' "$piece"; answer+="$piece"
      fi ;;
  esac
done < <(curl -sN -H "Content-Type: application/json" "$PROXY/v1/chat/completions" -d "$body")
total=$(( ($(date +%s%N) - t0) / 1000000 ))
echo
echo

bytes=$(( $(metric "$DECODE" "tandem:kv_migration_bytes_total") - bytes_before ))
secs=$(curl -s "$DECODE/metrics" | awk -v b="$secs_before" '$1 ~ /^tandem:kv_migration_seconds_sum/ { s += $NF } END { printf "%.6f", s - b }')
# Bytes per block from the decode agent's start line ("KV arena registered with UCX (96.0 MiB ...)") and --kv-blocks.
arena_mib=$(sed -n 's/.*KV arena registered with UCX (\([0-9.]*\) MiB.*/\1/p' "$LOGS/decode.log" | head -n 1)
blocks=$(awk -v b="$bytes" -v m="${arena_mib:-0}" 'BEGIN { if (m > 0) printf "%.0f", b / (m * 1048576 / 256) }')
echo "time to first token:  ${ttft:-?} ms (whole answer ${total} ms, through proxy -> prefill -> decode)"
if [ "$bytes" -gt 0 ]; then
  echo "KV migrated:          ${blocks:-?} blocks, $bytes bytes, in ${secs} s (decode agent's tandem:kv_migration_*)"
  awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "migration bandwidth:  %.1f MB/s\n", b / s / 1e6 }'
else
  echo "KV migrated:          no migration counted by the decode agent (see $LOGS/decode.log)"
fi
echo "proxy view:           $(curl -s "$PROXY/metrics" | grep -E '^tandem_proxy_migration_duration_seconds_(sum|count)' | tr '\n' ' ')"
if [ -n "$KEEP" ]; then
  echo "demo: cluster running at $PROXY (admin key $ADMIN); Ctrl-C stops it" >&2
  while true; do sleep 3600 & wait $!; done
fi
