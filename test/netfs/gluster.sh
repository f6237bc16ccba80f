#!/usr/bin/env bash
# gluster.sh - GlusterFS on loopback: one brick server (glusterfsd from a hand-written volfile,
# bound to 127.0.0.1 on a free port; glusterd refuses bricks on 127.x) and two FUSE clients, each
# its own glusterfs process with its own caches.
#
#   gluster.sh up BRICK MNT_A MNT_B     install missing packages, start the brick, mount (idempotent)
#   gluster.sh down BRICK MNT_A MNT_B   unmount, stop the brick once no mount of ours is left (idempotent)
#
# BRICK is the server's storage (a filesystem with xattrs: ext4, xfs, btrfs). Never write into it
# while mounted; go through a mount.
# GLUSTER_CLIENT_OPTS client options (default: no attribute, entry or negative caching, and
#   --fopen-keep-cache=off: with it on, another client's same-size overwrite stays invisible, as no
#   cache-invalidation service runs here).
# GLUSTER_STATE state dir: volfiles, pids, port, logs (default /run/dircache-test-gluster)
set -euo pipefail
NAME=gluster
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

STATE="${GLUSTER_STATE:-/run/dircache-test-gluster}"
COPTS="${GLUSTER_CLIENT_OPTS:---attribute-timeout=0 --entry-timeout=0 --negative-timeout=0 --fopen-keep-cache=off}"

start_brick() {
  local brick="$1" pid port
  if pid="$(pid_of "$STATE/brick.pid" "$STATE/server.vol")"; then log "brick already running (pid $pid)"; return 0; fi
  mkdir -p "$STATE/log" "$brick"
  port="$(free_port)"
  cat > "$STATE/server.vol" <<VOL
volume posix
  type storage/posix
  option directory $brick
end-volume
volume locks
  type features/locks
  subvolumes posix
end-volume
volume iot
  type performance/io-threads
  subvolumes locks
end-volume
volume server
  type protocol/server
  option transport-type tcp
  option transport.address-family inet
  option transport.socket.bind-address 127.0.0.1
  option transport.socket.listen-port $port
  option auth.addr.iot.allow 127.0.0.1
  subvolumes iot
end-volume
VOL
  cat > "$STATE/client.vol" <<VOL
volume remote
  type protocol/client
  option transport-type tcp
  option transport.address-family inet
  option remote-host 127.0.0.1
  option remote-port $port
  option remote-subvolume iot
end-volume
VOL
  glusterfsd -f "$STATE/server.vol" -l "$STATE/log/brick.log" -p "$STATE/brick.pid"
  for _ in $(seq 1 50); do
    ss -Hltn "sport = :$port" | grep -q . && { log "brick up on 127.0.0.1:$port, storage $brick"; return 0; }
    sleep 0.1
  done
  tail -20 "$STATE/log/brick.log" >&2 || true
  die "brick did not start"
}

mount_one() {
  local mnt="$1" name
  if live_mount "$mnt"; then log "$mnt already mounted"; return 0; fi
  mkdir -p "$mnt"
  name="$(echo "$mnt" | tr -c 'A-Za-z0-9\n' _)"
  # shellcheck disable=SC2086
  glusterfs -f "$STATE/client.vol" -l "$STATE/log/client$name.log" $COPTS "$mnt"
  for _ in $(seq 1 50); do is_mounted "$mnt" && stat "$mnt" >/dev/null 2>&1 && break; sleep 0.1; done
  stat "$mnt" >/dev/null 2>&1 || die "mount of $mnt failed (see $STATE/log/client$name.log)"
  remember_mount "$mnt"
  log "mounted on $mnt ($COPTS)"
}

cmd="${1:-}"; shift || true
[ $# -eq 3 ] || die "usage: $0 up|down BRICK MNT_A MNT_B"
brick="$(realpath -m "$1")"; shift
case "$cmd" in
  up)
    [ -e /dev/fuse ] || die "/dev/fuse missing: no FUSE here"
    missing=()
    command -v glusterfsd >/dev/null || missing+=(glusterfs-server)
    command -v glusterfs >/dev/null || missing+=(glusterfs-client)
    install_pkgs "${missing[@]}"
    start_brick "$brick"
    for m in "$@"; do mount_one "$(realpath -m "$m")"; done ;;
  down)
    if unmount_ours "$@"; then
      if pid="$(pid_of "$STATE/brick.pid" "$STATE/server.vol")"; then stop_pid "$pid"; log "stopped brick (pid $pid)"; fi
      rm -rf "$STATE"
    fi ;;
  *) die "usage: $0 up|down BRICK MNT_A MNT_B" ;;
esac
