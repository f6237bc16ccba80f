# Shared by sshfs.sh and gluster.sh: logging, package installs, free ports, mount checks.
# Sourced, not run. Expects NAME (log prefix) to be set.

log() { echo "[$NAME] $*" >&2; }
die() { echo "[$NAME] ERROR: $*" >&2; exit 1; }

is_mounted() { awk -v m="$1" '$2==m {f=1} END {exit !f}' /proc/self/mounts; }

# install_pkgs PKG... : apt-get install what is missing (root only); services are never started.
install_pkgs() {
  [ $# -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "need root to install: $*"
  log "installing: $*"
  local made=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
  [ "$made" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# free_port : a TCP port nobody listens on, on 127.0.0.1.
free_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 100); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  die "no free port found"
}

# pid_of STATE_FILE PATTERN : the pid in STATE_FILE if alive and its command line holds PATTERN.
pid_of() {
  local pid; pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$2" && echo "$pid"
}

# stop_pid PID : TERM, then wait up to 5 s.
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do [ -d "/proc/$1" ] || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

# unmount MNT : unmount if mounted (lazily if busy), then remove the empty mount point's record.
unmount() {
  is_mounted "$1" || return 0
  umount "$1" 2>/dev/null || fusermount3 -u "$1" 2>/dev/null || { log "$1 busy, lazy unmount"; umount -l "$1"; }
  log "unmounted $1"
}

# live_mount MNT : true if MNT is mounted and answers; a dead mount is lazily unmounted.
live_mount() {
  is_mounted "$1" || return 1
  if timeout 5 stat "$1" >/dev/null 2>&1; then return 0; fi
  log "$1 is a dead mount, unmounting it"
  umount -l "$1" 2>/dev/null || fusermount3 -uz "$1" || true
  return 1
}

# remember_mount MNT : note a mount of ours in $STATE/mounts.
remember_mount() { grep -qxF "$1" "$STATE/mounts" 2>/dev/null || echo "$1" >> "$STATE/mounts"; }

# unmount_ours MNT... : unmount each and forget it; true when no mount of ours is left. Also forgets
# listed mounts that are gone (a killed run's, unmounted since), which would otherwise keep the
# server up for good; a mount is listed only once it is up, so a concurrent `up` loses nothing.
unmount_ours() {
  local m
  for m in "$@"; do unmount "$(realpath -m "$m")"; done
  [ -f "$STATE/mounts" ] || return 0
  while read -r m; do
    if is_mounted "$m"; then echo "$m"; fi
  done < "$STATE/mounts" > "$STATE/mounts.tmp"
  mv "$STATE/mounts.tmp" "$STATE/mounts"
  [ ! -s "$STATE/mounts" ]
}
