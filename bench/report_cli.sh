#!/bin/sh
# CPU time (user+sys, /usr/bin/time) of `raceproof report` on the incident pair next to the two
# `raceproof verify` commands it rests on, best of N runs each. Not a test: nothing asserts.
#   sh bench/report_cli.sh [N]   (run from the repository root, with raceproof installed)
N=${1:-3}
OUT=$(mktemp -d)
cpu() {  # best user+sys of N runs of "$@"
  best=""
  i=0
  while [ $i -lt "$N" ]; do
    /usr/bin/time -o "$OUT/time" -f "%U %S" "$@" >/dev/null 2>&1
    t=$(tail -1 "$OUT/time" | awk '{print $1 + $2}')
    best=$(printf '%s\n%s\n' "$best" "$t" | sed '/^$/d' | sort -g | head -1)
    i=$((i + 1))
  done
  echo "$best"
}
B=$(cpu raceproof verify scenarios/guest-download-2026-04-10.toml)
F=$(cpu raceproof verify scenarios/guest-download-fixed.toml)
R=$(cpu raceproof report scenarios/guest-download-2026-04-10.toml scenarios/guest-download-fixed.toml -o "$OUT/report")
rm -rf "$OUT"
awk -v b="$B" -v f="$F" -v r="$R" 'BEGIN {
  printf "verify buggy   %6.2f s CPU\nverify fixed   %6.2f s CPU\ntwo verifies   %6.2f s CPU\nreport (pair)  %6.2f s CPU   ratio %.2f\n", b, f, b + f, r, r / (b + f) }'
