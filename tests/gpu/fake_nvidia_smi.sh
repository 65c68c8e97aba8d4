#!/usr/bin/env bash
# A fake nvidia-smi that replays recorded real outputs (testdata/nvidia-smi/<fixture>/) for the exact argument lists
# the agent sends, and fails loudly for any other arguments so a changed query is noticed.
# The fixture directory is named in the file `fixture` next to this script; `sleep` there makes it hang instead, and
# `withhold` lists recordings (one file name a line) to answer as missing, so one query fails while the others work.
set -u
here="$(dirname "$0")"
if [ -f "$here/sleep" ]; then exec sleep "$(cat "$here/sleep")"; fi
dir="$(cat "$here/fixture")"
printf '[%s]\n' "$*" >> "$here/calls.log"
if [ "${LC_ALL:-}" != "C" ]; then
  echo "fake nvidia-smi: expected LC_ALL=C, got '${LC_ALL:-}'" >&2
  exit 3
fi
# A broken driver fails every invocation the same way.
if [ -f "$dir/all.out" ]; then
  cat "$dir/all.out"
  exit "$(cat "$dir/all.exit")"
fi
case "$*" in
  "--query-gpu=index,uuid,name,memory.total,driver_version,pci.bus_id --format=csv,noheader,nounits")
    key=identity.csv ;;
  "--query-gpu=index,uuid,temperature.gpu,utilization.gpu,ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total,clocks_throttle_reasons.active,power.draw,power.limit,mig.mode.current --format=csv,noheader,nounits")
    key=health.csv ;;
  "--query-gpu=index,uuid,retired_pages.pending,remapped_rows.pending,remapped_rows.failure --format=csv,noheader,nounits")
    key=memory.csv ;;
  "")
    key=table.txt ;;
  "-L")
    key=list.txt ;;
  *)
    echo "fake nvidia-smi: no recording for arguments: $*" >&2
    exit 2 ;;
esac
if [ ! -f "$dir/$key" ] || { [ -f "$here/withhold" ] && grep -qxF "$key" "$here/withhold"; }; then
  echo "fake nvidia-smi: fixture $(basename "$dir") has no recorded $key" >&2
  exit 2
fi
cat "$dir/$key"
