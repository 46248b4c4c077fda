#!/usr/bin/env bash
# Side by side: the rtconform reference server and Centrifugo v6.9.1 under the same
# `rtconform load` workload, one server at a time on this machine, fresh for each transport.
#
#   bench/side-by-side.sh                       # defaults below
#   N=10000 TOPICS=1000 RATE=1 DURATION=60s bench/side-by-side.sh
#
# For each transport (uni SSE, uni WebSocket) and each server it starts the server, runs
#   rtconform load --subscribers N --topics TOPICS --transports T --rate RATE --duration DURATION --idle IDLE
# (one publisher per topic through the server's publish API; every event checked for loss,
# duplicates and order), samples the server's VmRSS before the load and while the N
# subscribers are connected and idle, stops the server, and finally prints a table with the
# ratios reference / Centrifugo of delivered events/s, p99 publish→receive latency and server
# memory per idle connection ((VmRSS idle − VmRSS before) / N).
#
# Equivalent settings: both keep 10,000 events per topic for resume (reference --retain,
# Centrifugo history_size in namespace hist), both send keep-alives every 25 s (reference
# --heartbeat/--ping, Centrifugo's default client.ping_interval), Centrifugo's per-client queue
# is 16 MiB (client.queue_max_size, as the project's preset tests use), anonymous
# subscribers, publish API without a key. Loopback only; everything it starts is stopped on exit.
#
# Centrifugo is built from its Go module once (go install github.com/centrifugal/centrifugo/v6@v6.9.1)
# into ~/.cache/rtconform/thirdparty/centrifugo-v6.9.1/ (the same cache the project's tests use).
set -euo pipefail

N=${N:-2000}
TOPICS=${TOPICS:-100}
RATE=${RATE:-5}
DURATION=${DURATION:-20s}
IDLE=${IDLE:-8s}
TRANSPORTS=${TRANSPORTS:-"sse websocket"}
CENTRIFUGO_VERSION=v6.9.1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
SERVER_PID=""
LOAD_PID=""

stop_pid() { # stop_pid PID: TERM, then KILL after 10 s
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	stop_pid "$LOAD_PID"
	stop_pid "$SERVER_PID"
	wait 2>/dev/null || true
	if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "side-by-side: $*" >&2; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; } # utime+stime, clock ticks of 1/100 s

wait_ready() { # wait_ready URL PID NAME
	for _ in $(seq 300); do
		if curl -fs -o /dev/null --max-time 1 "$1"; then return 0; fi
		kill -0 "$2" 2>/dev/null || { log "$3 exited; its log:"; cat "$WORK/$3.log" >&2; exit 2; }
		sleep 0.1
	done
	log "$3 not ready at $1 within 30 s"; exit 2
}

log "building rtconform"
(cd "$ROOT" && go build -o "$WORK/rtconform" ./cmd/rtconform)

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/rtconform/thirdparty/centrifugo-$CENTRIFUGO_VERSION
CENTRIFUGO=$CACHE/centrifugo
if [ ! -x "$CENTRIFUGO" ]; then
	log "building Centrifugo $CENTRIFUGO_VERSION from its Go module (once; minutes)"
	mkdir -p "$CACHE"
	GOBIN="$WORK/gobin" GOFLAGS=-mod=mod go install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
	mv "$WORK/gobin/centrifugo" "$CENTRIFUGO"
fi

# The reference's profile: its preset with the keep-alive intervals it is started with.
printf 'preset: reference\ntarget:\n  sse: {heartbeat: 25s}\n  websocket: {keepalive: 25s}\n' >"$WORK/reference.yaml"

start_reference() {
	local port; port=$(free_port)
	"$WORK/rtconform" reference --addr "127.0.0.1:$port" --heartbeat 25s --ping 25s --retain 10000 >"$WORK/reference.log" 2>&1 &
	SERVER_PID=$!
	BASE="http://127.0.0.1:$port"
	wait_ready "$BASE/healthz" "$SERVER_PID" reference
}

start_centrifugo() {
	local port; port=$(free_port)
	cat >"$WORK/centrifugo.json" <<JSON
{"http_server": {"address": "127.0.0.1", "port": $port},
 "log": {"level": "error"},
 "client": {"insecure": true, "allowed_origins": ["*"], "queue_max_size": 16777216},
 "http_api": {"insecure": true},
 "health": {"enabled": true},
 "uni_sse": {"enabled": true},
 "uni_websocket": {"enabled": true},
 "channel": {"namespaces": [{"name": "hist", "history_size": 10000, "history_ttl": "600s",
   "force_recovery": true, "allow_subscribe_for_anonymous": true}]}}
JSON
	(cd "$WORK" && exec "$CENTRIFUGO" --config "$WORK/centrifugo.json" >"$WORK/centrifugo.log" 2>&1) &
	SERVER_PID=$!
	BASE="http://127.0.0.1:$port"
	wait_ready "$BASE/health" "$SERVER_PID" centrifugo
}

# run SERVER TRANSPORT: one load against a fresh server; writes $WORK/SERVER-TRANSPORT.res
run() {
	local server=$1 tr=$2 profile
	"start_$server"
	case $server in
	reference) profile=(--config "$WORK/reference.yaml") ;;
	centrifugo) [ "$tr" = sse ] && profile=(--preset centrifugo-uni-sse) || profile=(--preset centrifugo-uni-ws) ;;
	esac
	sleep 1
	local before; before=$(rss_kib "$SERVER_PID")
	local cpu0; cpu0=$(cpu_s "$SERVER_PID")
	local out="$WORK/$server-$tr"
	log "$server, $tr: $N subscribers on $TOPICS topics, $RATE events/s per topic for $DURATION"
	(cd "$WORK" && exec "$WORK/rtconform" load "${profile[@]}" --target "$BASE" --subscribers "$N" --topics "$TOPICS" \
		--transports "$tr" --rate "$RATE" --duration "$DURATION" --idle "$IDLE" --report-dir "$out") >"$out.log" 2>&1 &
	LOAD_PID=$!
	local idle=""
	for _ in $(seq 1200); do
		if grep -q "rtconform load: idle:" "$out.log"; then
			sleep "$(( ${IDLE%s} / 2 ))"
			idle=$(rss_kib "$SERVER_PID")
			break
		fi
		kill -0 "$LOAD_PID" 2>/dev/null || break
		sleep 0.1
	done
	local code=0
	wait "$LOAD_PID" || code=$?
	LOAD_PID=""
	local cpu1; cpu1=$(cpu_s "$SERVER_PID")
	local peak; peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
	stop_pid "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
	sed 's/^/    /' "$out.log" >&2
	if [ "$code" -ge 2 ] || [ -z "$idle" ] || [ ! -f "$out/load-report.json" ]; then
		log "$server, $tr: the load failed (exit $code)"; exit 2
	fi
	jq -r --arg before "$before" --arg idle "$idle" --arg n "$N" --arg code "$code" --arg cpu "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" --arg peak "$peak" \
		'[.throughput.delivered_per_s, .latency.p99_ms, (($idle|tonumber) - ($before|tonumber)) / ($n|tonumber),
		  ($cpu|tonumber), ($peak|tonumber) / 1024, .latency.p50_ms, ($code|tonumber),
		  ((.checker.violations // {}) | to_entries | map(.value) | add // 0), .connections.failed_subscribers] | @tsv' \
		"$out/load-report.json" >"$out.res"
}

for tr in $TRANSPORTS; do
	run reference "$tr"
	run centrifugo "$tr"
done

printf '\nrtconform load: %s subscribers on %s topics, %s events/s per topic, %s; one server at a time\n' "$N" "$TOPICS" "$RATE" "$DURATION"
printf '%-10s %-32s %14s %14s %16s\n' transport metric reference centrifugo "ref/centrifugo"
for tr in $TRANSPORTS; do
	IFS=$'\t' read -r rd rp rm rc rh r50 rx rv rf <"$WORK/reference-$tr.res"
	IFS=$'\t' read -r cd cp cm cc ch c50 cx cv cf <"$WORK/centrifugo-$tr.res"
	row() { printf '%-10s %-32s %14.2f %14.2f %16s\n' "$tr" "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }')"; }
	row "delivered events/s" "$rd" "$cd"
	row "p50 publish->receive (ms)" "$r50" "$c50"
	row "p99 publish->receive (ms)" "$rp" "$cp"
	row "server KiB per idle connection" "$rm" "$cm"
	row "server CPU during the load (s)" "$rc" "$cc"
	row "server peak RSS (MiB)" "$rh" "$ch"
	printf '%-10s %-32s %14s %14s\n' "$tr" "checker violations / failed subs" "$rv / $rf" "$cv / $cf"
done
