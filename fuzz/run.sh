#!/usr/bin/env bash
# Fuzzing (not part of CI). Installs cargo-fuzz, seeds the corpora from the spec corpus, and
# runs each target for FUZZ_SECS seconds (default 600). Uses the stable toolchain with
# RUSTC_BOOTSTRAP=1 and no sanitizer, so it needs nothing but rustup's stable Rust and a C++
# compiler; with a nightly toolchain installed, drop those and get AddressSanitizer too.
#   fuzz/run.sh                      every target
#   fuzz/run.sh protocol_ga          one target
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
SECS=${FUZZ_SECS:-600}
TARGETS=${*:-"protocol_ga protocol_beta transport_frames session_events"}

# Seeds: every event payload of the spec corpus, one file each.
for proto in ga beta; do
  dir=corpus/protocol_$proto
  mkdir -p "$dir"
  for f in ../realtime-protocol/tests/data/corpus/$proto-*.jsonl; do
    python3 - "$f" "$dir" <<'PY'
import json, sys, hashlib, pathlib
src, out = sys.argv[1], pathlib.Path(sys.argv[2])
for line in open(src, encoding="utf-8"):
    line = line.strip()
    if not line:
        continue
    event = json.dumps(json.loads(line)["event"], ensure_ascii=False)
    (out / hashlib.sha1(event.encode()).hexdigest()).write_text(event, encoding="utf-8")
PY
  done
done

for t in $TARGETS; do
  echo "== $t for ${SECS}s"
  mkdir -p "corpus/$t"
  mkdir -p logs
  cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=65536 > "logs/$t.log" 2>&1 || status=$?
  grep -E "^Done|ERROR|panicked" "logs/$t.log" || true
  [ "${status:-0}" = 0 ] || exit "$status"
done
