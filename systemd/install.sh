#!/usr/bin/env bash
# Installs pushwire as a systemd service. Idempotent: run it again after `npm run build` to
# update the program; an existing /etc/pushwire/pushwire.json is never overwritten.
#
#   sudo systemd/install.sh [--node PATH] [--bundle FILE] [--ssl-cert FILE --ssl-key FILE] [--root DIR] [--dry-run]
#
#   --node PATH    the node binary the unit runs (default: `command -v node`)
#   --bundle FILE  the built single file (default: dist/pushwire.js beside this script's repo)
#   --ssl-cert FILE, --ssl-key FILE
#                  a new configuration also serves TLS on 8894 with this certificate
#   --root DIR     install under DIR instead of / (packaging, tests): no user is created and
#                  systemctl is not called
#   --dry-run      check everything and print what would be done; change nothing
#
# Every argument, the bundle, the certificate and an existing configuration are checked before
# anything is changed: a refusal (exit 2 bad arguments, 1 anything else) leaves the system as it was.
#
# What it does: /opt/pushwire/pushwire.js (the bundle), /etc/pushwire/pushwire.json (from
# --print-config, only if absent, then --check), the `pushwire` system user (in group ssl-cert
# when that group exists, so it can read keys in /etc/ssl/private), and
# /etc/systemd/system/pushwire.service with ExecStart pointing at that node.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
node="$(command -v node || true)"
bundle="$here/../dist/pushwire.js"
root=""
cert=""
key=""
dry_run=0

say() { echo "install.sh: $*"; }
fail() { echo "install.sh: $*" >&2; exit 1; }
usage() { echo "install.sh: $* (see --help)" >&2; exit 2; }
# The value of option $1, or a usage error.
value() { [ $# -ge 2 ] && [ -n "$2" ] || usage "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --node) value "$@"; node="$2"; shift 2 ;;
    --bundle) value "$@"; bundle="$2"; shift 2 ;;
    --ssl-cert) value "$@"; cert="$2"; shift 2 ;;
    --ssl-key) value "$@"; key="$2"; shift 2 ;;
    --root) value "$@"; root="${2%/}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) usage "unknown argument $1" ;;
  esac
done

# --- Checks: nothing below changes the system until all of them passed. ---
if [ -n "$cert" ] && [ -z "$key" ]; then usage "--ssl-cert needs --ssl-key"; fi
if [ -z "$cert" ] && [ -n "$key" ]; then usage "--ssl-key needs --ssl-cert"; fi
if [ -n "$root" ] && [ -e "$root" ] && [ ! -d "$root" ]; then usage "--root $root is not a directory"; fi
if [ -z "$root" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then fail "run as root (or with --root DIR to install into a directory, or --dry-run to see what it would do)"; fi

[ -n "$node" ] && [ -x "$node" ] || fail "no node binary found; install Node.js 20+ (apt-get install nodejs) or pass --node PATH"
node="$(readlink -f "$node")"
[ -f "$bundle" ] && [ -r "$bundle" ] || fail "$bundle not found; run 'npm ci && npm run build' first"
bundle="$(readlink -f "$bundle")"
version="$("$node" "$bundle" --version)" || fail "$bundle does not run with $node"
case "$node" in
  /home/*|/root/*) say "warning: $node is under /home or /root, which the unit's ProtectHome=yes hides; install node system-wide" ;;
esac

tls=()
if [ -n "$cert" ]; then
  for file in "$cert" "$key"; do
    [ -f "$file" ] && [ -r "$file" ] || fail "$file: not a readable file"
  done
  # Absolute, so that the configuration works from any folder; pushwire itself checks that they are a matching PEM pair.
  tls=(--ssl-cert "$(readlink -f "$cert")" --ssl-key "$(readlink -f "$key")")
  "$node" "$bundle" --check "${tls[@]}" >/dev/null || fail "the certificate or key was refused (above); nothing was changed"
fi

opt="$root/opt/pushwire"
etc="$root/etc/pushwire"
unit_dir="$root/etc/systemd/system"
config="$etc/pushwire.json"
if [ -e "$config" ]; then
  # The kept configuration must suit the new program before the program is replaced.
  "$node" "$bundle" --check --config "$config" || fail "$config is invalid for $version; fix it first (nothing was changed)"
fi

# --- Changes: each goes through act or write, which --dry-run prints instead. ---
act() {
  if [ "$dry_run" = 1 ]; then say "would run: $*"; else "$@"; fi
}
# write FILE WHAT COMMAND…: FILE (mode 0644) gets COMMAND's output, replaced whole or not at all.
write() {
  local file="$1" what="$2"
  shift 2
  if [ "$dry_run" = 1 ]; then say "would write $file ($what)"; return; fi
  "$@" > "$file.new"
  chmod 0644 "$file.new"
  mv "$file.new" "$file"
}
# What was done (a dry run says "would …" instead).
did() { [ "$dry_run" = 1 ] || say "$@"; }
# A failed write leaves no half-written file behind.
trap 'rm -f "$config.new" "$unit_dir/pushwire.service.new"' EXIT

act install -d -m 0755 "$opt" "$etc" "$unit_dir"
act install -m 0755 "$bundle" "$opt/pushwire.js"
did "installed $opt/pushwire.js ($version)"

if [ -e "$config" ]; then
  say "kept existing $config"
else
  write "$config" "pushwire --print-config${tls[*]+ ${tls[*]}}" "$node" "$bundle" --print-config ${tls[@]+"${tls[@]}"}
  did "wrote $config (the built-in BitrixVM layout; edit it, then: systemctl reload pushwire)"
fi
if [ "$dry_run" = 0 ]; then "$node" "$opt/pushwire.js" --check --config "$config"; fi

if [ -z "$root" ]; then
  if getent passwd pushwire >/dev/null; then
    say "user pushwire exists"
  else
    act useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pushwire
    did "created system user pushwire"
  fi
  if getent group ssl-cert >/dev/null && ! id -nG pushwire 2>/dev/null | tr ' ' '\n' | grep -qx ssl-cert; then
    act usermod -a -G ssl-cert pushwire
    did "added pushwire to group ssl-cert (for keys in /etc/ssl/private)"
  fi
else
  say "--root given: not creating the pushwire user"
fi

write "$unit_dir/pushwire.service" "$here/pushwire.service with ExecStart=$node" sed "s#^ExecStart=/usr/bin/node #ExecStart=$node #" "$here/pushwire.service"
did "installed $unit_dir/pushwire.service (ExecStart=$node)"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  act systemctl daemon-reload
  if systemctl is-active --quiet pushwire; then
    say "pushwire is running; apply the new program with: systemctl restart pushwire"
  else
    say "start it with: systemctl enable --now pushwire"
  fi
else
  say "next: systemctl daemon-reload && systemctl enable --now pushwire"
fi
if [ "$dry_run" = 1 ]; then say "dry run: nothing was changed"; fi
