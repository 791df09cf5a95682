#!/usr/bin/env bash
# Builds each lua/<op>.lua from lua/ops/<op>.lua by replacing every `--#include NAME` line
# with lua/parts/NAME.lua, so shared helpers have one home while every script Redis runs
# stays one plain file (`redis-cli --eval lua/<op>.lua ...` and `SCRIPT LOAD` work on it).
#
#   bash lua/assemble.sh          rewrite lua/*.lua
#   bash lua/assemble.sh --check  exit 1 (and name the files) when lua/*.lua are stale
set -euo pipefail
cd "$(dirname "$0")"
check=false
[ "${1:-}" = "--check" ] && check=true
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for op in ops/*.lua; do
  name="$(basename "$op")"
  {
    while IFS= read -r line || [ -n "$line" ]; do
      if [[ "$line" =~ ^--#include\ ([a-z_]+)$ ]]; then
        part="parts/${BASH_REMATCH[1]}.lua"
        [ -f "$part" ] || { echo "lua/$op: no $part" >&2; exit 1; }
        cat "$part"
      else
        printf '%s\n' "$line"
      fi
    done < "$op"
  } > "$out/$name"
done

stale=0
for built in "$out"/*.lua; do
  name="$(basename "$built")"
  if ! cmp -s "$built" "$name"; then
    stale=1
    $check && echo "lua/$name is stale: run bash lua/assemble.sh" >&2
    $check || cp "$built" "$name"
  fi
done
for existing in *.lua; do
  [ -e "$existing" ] || continue
  if [ ! -e "ops/$existing" ]; then
    stale=1
    $check && echo "lua/$existing has no lua/ops/$existing" >&2
    $check || rm "$existing"
  fi
done
$check && exit $stale
exit 0
