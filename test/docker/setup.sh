#!/usr/bin/env bash
# Gets a real Docker engine and Grove's test image onto this host, for test/docker/*.test.ts. Idempotent: each step
# checks first and only does what is missing. Needs root (apt-get, dockerd). No image registry is needed or used:
# the test image is imported from a busybox rootfs built from Debian's busybox-static.
#
#   bash test/docker/setup.sh && GROVE_DOCKER_TESTS=1 npx mocha ... test/docker/docker.test.ts
set -euo pipefail

IMAGE=grove/busybox:test
SOCKET=/var/run/docker.sock
LOG=/var/log/dockerd.log
# Applets linked into the image: what notes/docker.md lists, plus what the tests' commands use.
APPLETS="sh ls echo cat sleep wget nc httpd ip mkdir env printf true false kill ps id sed grep head tail touch rm date hostname"

say () { echo "setup: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "docker.io and busybox-static are installed"
fi

engine_answers () { timeout 5 docker info >/dev/null 2>&1; }

if engine_answers; then
  say "the engine at $SOCKET answers"
else
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but does not answer yet; waiting for it"
  else
    say "starting dockerd in the background (log: $LOG)"
    setsid dockerd >>"$LOG" 2>&1 < /dev/null &
  fi
  for i in $(seq 1 60); do
    if engine_answers; then break; fi
    if [ "$i" = 60 ]; then
      echo "setup: dockerd did not answer within 60 s; the end of $LOG:" >&2
      tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    sleep 1
  done
  say "the engine answers: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "image $IMAGE is present"
else
  say "building $IMAGE from /bin/busybox (docker import)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/www"
  cp /bin/busybox "$work/rootfs/bin/busybox"
  for a in $APPLETS; do ln -s busybox "$work/rootfs/bin/$a"; done
  chmod 1777 "$work/rootfs/tmp"
  tar -C "$work/rootfs" -cf "$work/busybox.tar" .
  docker import --change 'ENV PATH=/bin' "$work/busybox.tar" "$IMAGE" >/dev/null
  say "built $IMAGE: $(docker run --rm "$IMAGE" sh -c 'echo ok')"
fi
