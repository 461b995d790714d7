#!/usr/bin/env bash
# Installs the bench's peer and load tool from Debian: nginx with the Nchan module, and wrk.
# The packaged nginx service is left as Debian starts it; the bench runs its own nginx on other ports.
set -euo pipefail
if command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] && command -v wrk >/dev/null; then
  echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), Nchan module and wrk already installed"
  exit 0
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-nchan wrk
