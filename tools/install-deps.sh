#!/bin/sh
# Installs the Debian packages memdbg builds and tests with, when missing.
# Safe to run again; needs root (or sudo) only when something is missing.
set -eu
pkgs="lua5.4 liblua5.4-dev lua5.1 luajit libluajit-5.1-dev lua-cjson lua-busted lua-check
pkg-config gcc make luarocks cppcheck liblua5.1-0-dev neovim valgrind tmux curl
python3-prometheus-client"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
