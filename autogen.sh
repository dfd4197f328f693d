#!/bin/sh
# Install missing Debian build and test dependencies, then bootstrap and configure.
# Usage: ./autogen.sh [configure options]
set -e
cd "$(dirname "$0")"

PKGS="build-essential autoconf automake libtool pkg-config
libosip2-dev libxml2-dev libxml2-utils libev-dev libsystemd-dev check libssl-dev
python3 netcat-openbsd iproute2 util-linux systemd sip-tester baresip clang valgrind
xdg-utils desktop-file-utils libcurl4-openssl-dev linphone-cli kamailio
libjson-c-dev chromium nodejs nftables socat"
# The browser test needs npm: a nodejs from elsewhere brings its own, Debian's does not.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		SUDO=
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "autogen.sh: missing Debian packages:$missing" >&2
		echo "autogen.sh: install them with: sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "autogen.sh: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

autoreconf -fi
./configure "$@"
