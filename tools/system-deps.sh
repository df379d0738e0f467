#!/bin/sh
# Debian packages the tests and the demo need: gcc (test packages are compiled), patchelf
# (repackaging CPython with $ORIGIN RUNPATHs), zstd (GNU tar comparisons), bsdtar (the
# archive-fidelity tests compare our reader with GNU tar and bsdtar), strace (kills a run
# at an exact system call), unzip, zsh and fish (activation scripts are run in them), make,
# ssh-keygen and ssh-agent (openssh-client: bundle signatures are made and checked with them),
# java (openjdk-17-jre-headless: the Spark cluster of tests/test_engines.py).
# Installs only what is missing.
set -eu
missing=
for pair in gcc:gcc patchelf:patchelf zstd:zstd bsdtar:libarchive-tools strace:strace \
    zsh:zsh fish:fish unzip:unzip make:make ssh-keygen:openssh-client ssh-agent:openssh-client \
    java:openjdk-17-jre-headless; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
echo "Installing Debian packages:$missing"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
