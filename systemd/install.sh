#!/usr/bin/env bash
# Installs pushwire as a systemd service. Idempotent: run it again after `npm run build` to
# update the program; an existing /etc/pushwire/pushwire.json is never overwritten.
#
#   sudo systemd/install.sh [--node PATH] [--bundle FILE] [--ssl-cert FILE --ssl-key FILE] [--root DIR]
#
#   --node PATH    the node binary the unit runs (default: `command -v node`)
#   --bundle FILE  the built single file (default: dist/pushwire.js beside this script's repo)
#   --ssl-cert FILE, --ssl-key FILE
#                  a new configuration also serves TLS on 8894 with this certificate
#   --root DIR     install under DIR instead of / (packaging, tests): no user is created and
#                  systemctl is not called
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
tls=()

while [ $# -gt 0 ]; do
  case "$1" in
    --node) node="${2:?--node needs a path}"; shift 2 ;;
    --bundle) bundle="${2:?--bundle needs a file}"; shift 2 ;;
    --ssl-cert|--ssl-key) tls+=("$1" "$(readlink -f "${2:?$1 needs a file}")"); shift 2 ;;
    --root) root="${2:?--root needs a directory}"; root="${root%/}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "install.sh: $*"; }
fail() { echo "install.sh: $*" >&2; exit 1; }

[ -n "$node" ] && [ -x "$node" ] || fail "no node binary found; install Node.js 20+ (apt-get install nodejs) or pass --node PATH"
node="$(readlink -f "$node")"
[ -f "$bundle" ] || fail "$bundle not found; run 'npm ci && npm run build' first"
if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then fail "run as root (or with --root DIR to install into a directory)"; fi
case "$node" in
  /home/*|/root/*) say "warning: $node is under /home or /root, which the unit's ProtectHome=yes hides; install node system-wide" ;;
esac

opt="$root/opt/pushwire"
etc="$root/etc/pushwire"
unit_dir="$root/etc/systemd/system"

install -d -m 0755 "$opt" "$etc" "$unit_dir"
install -m 0755 "$bundle" "$opt/pushwire.js"
say "installed $opt/pushwire.js ($("$node" "$opt/pushwire.js" --version))"

config="$etc/pushwire.json"
if [ -e "$config" ]; then
  say "kept existing $config"
else
  "$node" "$opt/pushwire.js" --print-config ${tls[@]+"${tls[@]}"} > "$config.new"
  chmod 0644 "$config.new"
  mv "$config.new" "$config"
  say "wrote $config (the built-in BitrixVM layout; edit it, then: systemctl reload pushwire)"
fi
"$node" "$opt/pushwire.js" --check --config "$config"

if [ -z "$root" ]; then
  if getent passwd pushwire >/dev/null; then
    say "user pushwire exists"
  else
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pushwire
    say "created system user pushwire"
  fi
  if getent group ssl-cert >/dev/null && ! id -nG pushwire | tr ' ' '\n' | grep -qx ssl-cert; then
    usermod -a -G ssl-cert pushwire
    say "added pushwire to group ssl-cert (for keys in /etc/ssl/private)"
  fi
else
  say "--root given: not creating the pushwire user"
fi

sed "s#^ExecStart=/usr/bin/node #ExecStart=$node #" "$here/pushwire.service" > "$unit_dir/pushwire.service.new"
chmod 0644 "$unit_dir/pushwire.service.new"
mv "$unit_dir/pushwire.service.new" "$unit_dir/pushwire.service"
say "installed $unit_dir/pushwire.service (ExecStart=$node)"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if systemctl is-active --quiet pushwire; then
    say "pushwire is running; apply the new program with: systemctl restart pushwire"
  else
    say "start it with: systemctl enable --now pushwire"
  fi
else
  say "next: systemctl daemon-reload && systemctl enable --now pushwire"
fi
