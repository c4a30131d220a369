#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through cargo-fuzz) of every parser of untrusted bytes.
#
#   bash bench/fuzz.sh [TARGET...]            every target when none is named
#   FUZZ_SECONDS=120 bash bench/fuzz.sh lock  a longer run of one target
#
# Targets (fuzz/fuzz_targets/): tarstream retime archive layout lock dpkg metadata dockerfile check
# canonical encoder.
# Writes the seeds (bench/fuzz_seeds.rs) into fuzz/corpus/TARGET/, fuzzes each target in turn
# for FUZZ_SECONDS (default 30), then prints per target: executions, coverage (libFuzzer's
# cov: edges and ft: features), corpus size, crashes, the slowest input of the corpus and peak
# memory. A panic, a crash, an input running past FUZZ_TIMEOUT seconds (default 1; see
# below), a single allocation or a resident size past the target's limit, stops that target,
# saves the input under fuzz/artifacts/TARGET/ and makes the script exit 1 after the others.
# Replay one with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE`.
# Needs a nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz from
# crates.io (cargo install cargo-fuzz --locked) when it is missing. Not a test: the numbers
# depend on the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds=${FUZZ_SECONDS:-30}
# The slowest corpus input of any target takes tens of milliseconds under AddressSanitizer
# (README, Fuzzing); one second is over ten times that, so an input past it is a blow-up,
# not a busy machine.
timeout=${FUZZ_TIMEOUT:-1}
all=(tarstream retime archive layout lock dpkg metadata dockerfile check canonical encoder)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "bench/fuzz.sh: cargo-fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "bench/fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

# Largest input (bytes), resident memory (MB) and largest single allocation (MB) of each target:
# the seeds' size with room to grow; resident memory with room for AddressSanitizer's
# quarantine and the corpus libFuzzer holds (a 10 s run of tarstream reaches 200 MB); one
# allocation as large as a read of such an input may need (zstd may ask for a 128 MB window).
limits() {
    case "$1" in
        tarstream | retime) echo "65536 1024 256" ;;
        encoder) echo "65536 1024 64" ;;
        archive | layout) echo "131072 2048 512" ;;
        lock | canonical) echo "65536 1024 128" ;;
        dpkg | metadata) echo "16384 1024 64" ;;
        dockerfile | check) echo "65536 1024 256" ;;
        *)
            echo "bench/fuzz.sh: no target $1 (targets: ${all[*]})" >&2
            exit 2
            ;;
    esac
}
for target in "${targets[@]}"; do limits "$target" >/dev/null; done

cargo run --quiet --locked --example fuzz-seeds -- fuzz/corpus
logs="$root/target/fuzz-logs"
mkdir -p "$logs"
binaries="$root/fuzz/target/x86_64-unknown-linux-gnu/release"
echo "fuzzing each target for ${seconds} s, timeout ${timeout} s (logs in ${logs})" >&2
rows=()
failed=0
for target in "${targets[@]}"; do
    read -r max_len rss_mb malloc_mb < <(limits "$target")
    mkdir -p "fuzz/artifacts/$target"
    (cd fuzz && cargo +nightly fuzz build --debug-assertions "$target") 2>&1 | tail -n 1 >&2
    log="$logs/$target.log"
    status=0
    (cd fuzz && cargo +nightly fuzz run --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb="$rss_mb" \
        -malloc_limit_mb="$malloc_mb" -timeout="$timeout" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/") >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
        echo "$target: libFuzzer stopped with status $status:" >&2
        grep -E '^(==[0-9]+== ?ERROR|thread .* panicked|.*(Test unit|artifact) written to)' "$log" | head -n 5 >&2 || true
    fi
    # The slowest input of the corpus, each run once (libFuzzer prints each one's time).
    slowest=$(find "fuzz/corpus/$target" -type f -print0 |
        xargs -0 "$binaries/$target" -runs=1 2>&1 |
        sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' | sort -n | tail -n 1)
    corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
    rows+=("$(printf '%-11s %10s %8s %6s %6s %7s %8s %11s %8s' "$target" "${execs:-?}" \
        "$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))" "${cov:-?}" "${ft:-?}" "$corpus" \
        "$crashes" "${slowest:-?}" "${peak:-?}")")
    printf '%s\n' "${rows[-1]}" >&2
done
printf '%-11s %10s %8s %6s %6s %7s %8s %11s %8s\n' target execs execs/s cov ft corpus crashes \
    "slowest ms" "peak MB"
printf '%s\n' "${rows[@]}"
if [ "$failed" -ne 0 ]; then
    echo "inputs that failed are in fuzz/artifacts/ (logs in ${logs})" >&2
    exit 1
fi
