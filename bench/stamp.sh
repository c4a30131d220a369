# Sourced by the release benchmarks.
#
# stamp START FILE DECIMALS: the lines read, each stamped with the seconds since START (a
# $EPOCHREALTIME) to DECIMALS places, into FILE. The stamps are bash's own clock: a `date` per
# line would slow, on two cores, the release it times.
stamp() {
  local start=$1 out=$2 decimals=$3 line
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$out.stamped"
  awk -v start="$start" -v format="%7.${decimals}fs  %s\n" \
    '{ at = $1; sub(/^[^ ]* /, ""); printf format, at - start, $0 }' "$out.stamped" >"$out"
  rm -f "$out.stamped"
}
