#!/usr/bin/env bash
# The health script people write by hand, as the baseline for `pid-guard health --json`:
# cat the pid file, ps for CPU/memory, lsof -i for the listening ports, curl + jq for the
# endpoint, pgrep -c for the children. Prints one JSON object; exit 0 healthy, 1 not, 3 not running.
#
# Usage: benchmark/health.sh <pid file> <port> <url>
set -u
PIDFILE=$1
PORT=$2
URL=$3

pid=$(cat "$PIDFILE" 2>/dev/null)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo '{"alive":false}'
  exit 3
fi

# CPU %, RSS and VSZ (KiB), threads, elapsed seconds.
read -r cpu rss vsz threads etimes <<<"$(ps -o %cpu=,rss=,vsz=,nlwp=,etimes= -p "$pid")"

# Every TCP port the process listens on, and whether the expected one is among them.
listening=$(lsof -nP -a -p "$pid" -iTCP -sTCP:LISTEN -Fn 2>/dev/null | sed -n 's/^n//p' | sort -u | paste -sd, -)
port_listening=false
if lsof -nP -iTCP:"$PORT" -sTCP:LISTEN -t 2>/dev/null | grep -qx "$pid"; then port_listening=true; fi

# The health endpoint: status code, latency, body fields.
resp=$(curl -sS --max-time 2 -o /tmp/health-body.$$ -w '%{http_code} %{time_total}' "$URL" 2>/dev/null)
read -r status latency <<<"$resp"
body=$(jq -c . /tmp/health-body.$$ 2>/dev/null || echo null)
app_status=$(jq -r '.status // empty' /tmp/health-body.$$ 2>/dev/null)
rm -f /tmp/health-body.$$

children=$(pgrep -c -P "$pid")

healthy=true
if [ "$port_listening" != true ] || [ "$status" != 200 ] || [ "$app_status" != ok ]; then healthy=false; fi

jq -n \
  --argjson pid "$pid" --argjson cpu "$cpu" --argjson rss "$rss" --argjson vsz "$vsz" \
  --argjson threads "$threads" --argjson uptime "$etimes" --arg listening "$listening" \
  --argjson portListening "$port_listening" --argjson port "$PORT" --arg url "$URL" \
  --argjson status "${status:-0}" --argjson latency "${latency:-0}" --argjson body "$body" \
  --argjson children "$children" --argjson healthy "$healthy" \
  '{pid: $pid, alive: true, uptimeMs: ($uptime * 1000), cpuPercent: $cpu,
    memory: {rss: ($rss * 1024), virtual: ($vsz * 1024)}, threads: $threads, children: $children,
    listening: ($listening | split(",")), port: {number: $port, listening: $portListening},
    endpoint: {url: $url, status: $status, latencyMs: ($latency * 1000), body: $body},
    healthy: $healthy}'

if [ "$healthy" = true ]; then exit 0; else exit 1; fi
