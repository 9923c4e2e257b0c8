#!/usr/bin/env bash
# Runs every example offline (no OPENAI_API_KEY, no Azure variables): each must exit 0 within
# its timeout and print no error; servers must print their LISTENING line, then are stopped.
# The device example (`talk`) is built here but needs a microphone to run.
set -euo pipefail
cd "$(dirname "$0")/.."
unset OPENAI_API_KEY AZURE_OPENAI_ENDPOINT AZURE_OPENAI_API_KEY
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0

check() { # name, log: fail on a non-zero exit or an error line
  local name=$1 status=$2 log=$3
  if [ "$status" != 0 ] || grep -qiE '^(error|thread .* panicked)' "$log"; then
    echo "example $name FAILED (exit $status):"; tail -20 "$log"; failed=1
  else
    echo "example $name ok"
  fi
}

run() { # package, example, timeout, args...
  local pkg=$1 ex=$2 secs=$3; shift 3
  local log="$out/$ex.log" status=0
  timeout "$secs" cargo run -q -p "$pkg" --example "$ex" -- "$@" </dev/null >"$log" 2>&1 || status=$?
  check "$ex" "$status" "$log"
}

serve() { # package, example: must print LISTENING within 120 s (the build included)
  local pkg=$1 ex=$2 log="$out/$2.log"
  cargo build -q -p "$pkg" --example "$ex"
  "target/debug/examples/$ex" --listen 127.0.0.1:0 >"$log" 2>&1 &
  local pid=$! status=1
  for _ in $(seq 1 300); do
    if grep -q '^LISTENING ' "$log"; then status=0; break; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  check "$ex" "$status" "$log"
}

run realtime-runner voice_agent 300 --output "$out/reply.wav"
run realtime-runner barge_in 300
run realtime-runner text_chat 300
run realtime-runner tools_and_handoffs 300
run realtime-runner testing_your_agent 300
run realtime-runner azure 300
# The benchmark tools (not examples: `realtime-bench`).
status=0
timeout 300 cargo run -q -p realtime-bench --bin load_bench -- --sessions 4 --turns 2 --deltas 10 \
  </dev/null >"$out/load_bench.log" 2>&1 || status=$?
check load_bench "$status" "$out/load_bench.log"
# The harness client, against the fake server binary in both dialects and both runtimes.
cargo build -q -p realtime-testkit --bin fake-realtime-server
cargo build -q -p realtime-bench --bin bench_client
target/debug/fake-realtime-server --port 0 >"$out/fake.log" 2>&1 &
fake=$!
for _ in $(seq 1 100); do grep -q 'listening on ws://' "$out/fake.log" && break; sleep 0.1; done
url=$(grep -o 'ws://[^ ]*' "$out/fake.log" | head -1)
for protocol in ga beta; do
  for runtime in current multi; do
    status=0
    timeout 120 target/debug/bench_client --url "$url" --sessions 4 --turns 2 \
      --scenario stream --protocol "$protocol" --runtime "$runtime" >"$out/bench_client.log" 2>&1 || status=$?
    grep -q '"failed_sessions":0' "$out/bench_client.log" || status=1
    check "bench_client ($protocol, $runtime)" "$status" "$out/bench_client.log"
  done
done
kill "$fake" 2>/dev/null || true
wait "$fake" 2>/dev/null || true
serve realtime-twilio phone_agent
serve realtime-web web_agent
cargo build -q -p realtime-runner --example talk --features device
echo "example talk built (it needs audio devices to run)"
exit $failed
