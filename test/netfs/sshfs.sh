#!/usr/bin/env bash
# sshfs.sh - one directory mounted twice through sshfs over loopback: two independent clients, each
# with its own sshfs process, SSH connection and kernel caches. sshd listens on 127.0.0.1 only, on a
# free port, with its own config and keys (key auth only).
#
#   sshfs.sh up EXPORT MNT_A MNT_B     install missing packages, start sshd, mount (idempotent)
#   sshfs.sh down EXPORT MNT_A MNT_B   unmount, stop sshd once no mount of ours is left (idempotent)
#
# SSHFS_OPTS  cache profile, or explicit sshfs -o options:
#   coherent (default): dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0 - every
#             lookup and stat goes to the server, so one client sees the other's changes at once;
#   stale:    sshfs's own defaults (20 s dir/attr cache, 1 s kernel attr cache), like NFS attribute
#             caching but longer.
#   Both add no_contain_symlinks (else absolute and ../ link targets read back as EPERM). Never
#   add kernel_cache: it serves stale file content indefinitely.
# SSHFS_STATE state dir: keys, config, pid, port, log (default /run/dircache-test-sshfs)
set -euo pipefail
NAME=sshfs
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

STATE="${SSHFS_STATE:-/run/dircache-test-sshfs}"
case "${SSHFS_OPTS:-coherent}" in
  coherent) OPTS="dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0,no_contain_symlinks" ;;
  stale) OPTS="no_contain_symlinks" ;;
  *) OPTS="$SSHFS_OPTS" ;;
esac
USER_NAME="$(id -un)"

ssh_opts() {
  echo "IdentityFile=$STATE/id_ed25519,IdentitiesOnly=yes,Port=$(cat "$STATE/port"),StrictHostKeyChecking=no,\
UserKnownHostsFile=/dev/null,BatchMode=yes,LogLevel=ERROR,Compression=no"
}

start_sshd() {
  local pid
  if pid="$(pid_of "$STATE/sshd.pid" "$STATE/sshd_config")"; then log "sshd already running (pid $pid)"; return 0; fi
  mkdir -p "$STATE" /run/sshd
  chmod 700 "$STATE"
  [ -f "$STATE/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/host_key"
  [ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE/id_ed25519"
  cp "$STATE/id_ed25519.pub" "$STATE/authorized_keys"
  free_port > "$STATE/port"
  cat > "$STATE/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $(cat "$STATE/port")
HostKey $STATE/host_key
PidFile $STATE/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
AllowUsers $USER_NAME
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
UseDNS no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
CFG
  /usr/sbin/sshd -t -f "$STATE/sshd_config" || die "sshd rejects its config"
  rm -f "$STATE/sshd.pid"
  /usr/sbin/sshd -f "$STATE/sshd_config" -E "$STATE/sshd.log"
  local o; o="$(ssh_opts | sed 's/^/-o /; s/,/ -o /g')"
  for _ in $(seq 1 50); do
    # shellcheck disable=SC2086
    if ssh $o "$USER_NAME@127.0.0.1" true 2>/dev/null; then log "sshd up on 127.0.0.1:$(cat "$STATE/port")"; return 0; fi
    sleep 0.1
  done
  cat "$STATE/sshd.log" >&2 || true
  die "sshd did not come up"
}

mount_one() {
  local export="$1" mnt="$2"
  if live_mount "$mnt"; then log "$mnt already mounted"; return 0; fi
  mkdir -p "$mnt"
  sshfs "$USER_NAME@127.0.0.1:$export" "$mnt" -o "$(ssh_opts),$OPTS"
  stat "$mnt" >/dev/null || die "mount of $mnt failed"
  remember_mount "$mnt"
  log "mounted $export on $mnt ($OPTS)"
}

cmd="${1:-}"; shift || true
[ $# -eq 3 ] || die "usage: $0 up|down EXPORT MNT_A MNT_B"
export_dir="$(realpath -m "$1")"; shift
case "$cmd" in
  up)
    [ -e /dev/fuse ] || die "/dev/fuse missing: no FUSE here"
    missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh >/dev/null || missing+=(openssh-client)
    command -v sshfs >/dev/null || missing+=(sshfs)
    command -v fusermount3 >/dev/null || missing+=(fuse3)
    install_pkgs "${missing[@]}"
    mkdir -p "$export_dir"
    start_sshd
    for m in "$@"; do mount_one "$export_dir" "$(realpath -m "$m")"; done ;;
  down)
    if unmount_ours "$@"; then
      if pid="$(pid_of "$STATE/sshd.pid" "$STATE/sshd_config")"; then stop_pid "$pid"; log "stopped sshd (pid $pid)"; fi
      rm -rf "$STATE"
    fi ;;
  *) die "usage: $0 up|down EXPORT MNT_A MNT_B" ;;
esac
