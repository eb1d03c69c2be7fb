#!/usr/bin/env bash
# Swap for deep sleep (issue 29): a suspended preview's memory is pushed out of
# RAM by lowering its cgroup's limit (src/sleep/), which only works when the
# host has swap. Sourced by scripts/lib/setup.sh (scripts/start, scripts/test,
# scripts/install); installed as /usr/local/lib/previewd/swap.sh and run by the
# systemd unit before each start (ExecStartPre), since a swap file is not
# active again after a reboot unless something turns it on.
#
#   PREVIEWD_SWAP      auto (default) | file | zram | off
#                      auto: a swap file on the data disk with zswap in front
#                      (compressed in RAM first, written to disk only when the
#                      pool is full) where the kernel has zswap, else zram, else
#                      a plain swap file. Measured here (README, "Deep sleep"):
#                      both keep ~33 MiB of compressed pages in RAM per deep-
#                      asleep Vite preview and wake a counter app in ~27 ms
#                      (p50); zswap is the default because its pool can be
#                      written back to the disk under memory pressure (its
#                      shrinker, turned on here), where zram's cannot.
#   PREVIEWD_SWAP_MB   size; default twice the host's memory, at most a
#                      quarter of the data disk's free space
#   PREVIEWD_SWAP_FILE default $PREVIEWD_DATA_DIR/previewd.swap
#
# Does nothing when swap is already active (whatever kind); never fails the
# caller: without swap, previewd runs and says that deep sleep is off.
# shellcheck shell=bash

if ! declare -F say >/dev/null; then
  say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
fi

swap_active() { [ "$(awk 'NR > 1' /proc/swaps 2>/dev/null | wc -l)" -gt 0 ]; }

swap_default_mb() {
  local dir=$1 mem_kb free_kb
  mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  free_kb=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }')
  local want=$(( mem_kb * 2 / 1024 )) cap=$(( ${free_kb:-0} / 4 / 1024 ))
  [ "$cap" -gt 0 ] && [ "$want" -gt "$cap" ] && want=$cap
  echo "$want"
}

# zswap in front of a disk swap: pages are compressed into a RAM pool first (lz4 where the kernel has it).
zswap_on() {
  local p=/sys/module/zswap/parameters
  [ -w "$p/enabled" ] || return 1
  echo lz4 >"$p/compressor" 2>/dev/null || true
  # The shrinker writes cold compressed pages on to the disk under memory pressure (deep-asleep previews are the coldest).
  echo Y >"$p/shrinker_enabled" 2>/dev/null || true
  echo 1 >"$p/enabled" 2>/dev/null || return 1
  [ "$(cat "$p/enabled")" = Y ]
}

swap_file() {
  local file=$1 mb=$2
  mkdir -p "$(dirname "$file")"
  if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne $(( mb * 1024 * 1024 )) ]; then
    rm -f "$file"
    # fallocate is instant on ext4/xfs; a filesystem without it (or with holes mkswap refuses) gets written out.
    fallocate -l "${mb}M" "$file" 2>/dev/null || dd if=/dev/zero of="$file" bs=1M count="$mb" status=none || return 1
    chmod 600 "$file"
    mkswap -q "$file" >/dev/null 2>&1 || mkswap "$file" >/dev/null || return 1
  fi
  chmod 600 "$file"
  swapon "$file" 2>/dev/null || { mkswap "$file" >/dev/null 2>&1 && swapon "$file"; }
}

swap_zram() {
  local mb=$1 dev
  [ -e /sys/class/zram-control ] || modprobe zram 2>/dev/null || true
  [ -e /sys/block/zram0 ] || return 1
  dev=zram0
  # zram0 taken (sized already, or in use by another tool): a new device.
  if [ "$(cat /sys/block/zram0/disksize)" != 0 ]; then
    [ -r /sys/class/zram-control/hot_add ] || return 1
    dev=zram$(cat /sys/class/zram-control/hot_add) || return 1
  fi
  echo lz4 >/sys/block/$dev/comp_algorithm 2>/dev/null || true
  echo "${mb}M" >/sys/block/$dev/disksize || return 1
  mkswap -q /dev/$dev >/dev/null 2>&1 || mkswap /dev/$dev >/dev/null || return 1
  swapon -p 100 /dev/$dev
}

ensure_swap() {
  local mode=${PREVIEWD_SWAP:-auto}
  case "$mode" in
    off) return 0 ;;
    auto | file | zram) ;;
    *) say "PREVIEWD_SWAP=$mode is not one of auto, file, zram, off: swap left as it is"; return 0 ;;
  esac
  if swap_active; then
    # A disk swap found: zswap in front of it costs nothing and wakes faster; a zram one needs no zswap.
    if [ "$(id -u)" = 0 ] && ! grep -q '^/dev/zram' /proc/swaps; then zswap_on >/dev/null 2>&1 || true; fi
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    say "no swap on this host and not root: deep sleep of suspended previews is off (run as root, or set up swap)"
    return 0
  fi
  local data=${PREVIEWD_DATA_DIR:-${PREVIEWD_ROOT:-.}/data}
  local file=${PREVIEWD_SWAP_FILE:-$data/previewd.swap}
  local mb=${PREVIEWD_SWAP_MB:-$(swap_default_mb "$(dirname "$file")")}
  if ! [[ "$mb" =~ ^[0-9]+$ ]] || [ "$mb" -lt 64 ]; then
    say "PREVIEWD_SWAP_MB=$mb is not a number of megabytes (64 or more): no swap set up"
    return 0
  fi
  if [ "$mode" = zram ] || { [ "$mode" = auto ] && [ ! -e /sys/module/zswap ] && [ -e /sys/block/zram0 ]; }; then
    if swap_zram "$mb"; then say "swap: ${mb} MiB of zram (lz4)"; return 0; fi
    [ "$mode" = zram ] && { say "zram could not be set up: no swap (deep sleep off)"; return 0; }
  fi
  if swap_file "$file" "$mb"; then
    if zswap_on; then say "swap: ${mb} MiB file $file, zswap on in front ($(cat /sys/module/zswap/parameters/compressor))"
    else say "swap: ${mb} MiB file $file (no zswap in this kernel)"; fi
    return 0
  fi
  # A filesystem that cannot hold a swap file (some overlay or network ones): zram instead, where there is one.
  if [ "$mode" = auto ] && swap_zram "$mb"; then say "swap: ${mb} MiB of zram (lz4; $file could not be a swap file)"; return 0; fi
  say "no swap could be set up ($file): deep sleep of suspended previews is off"
  return 0
}

# Run as a program (the systemd unit's ExecStartPre): set up swap and exit 0.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_swap
  exit 0
fi
