#!/bin/sh
# Debian packages the tests and the demo need: gcc (test packages are compiled), patchelf
# (repackaging CPython with $ORIGIN RUNPATHs), zstd (GNU tar comparisons), unzip, zsh and fish
# (activation scripts are run in them), make. Installs only what is missing.
set -eu
missing=
for tool in gcc patchelf zstd zsh fish unzip make; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
