#!/bin/sh
if [ -f "$0" ] && grep -q '^__ENVBUNDLE_STAGE2__$' "$0" 2>/dev/null; then exec <"$0"; fi; _n=$(printf '\n_'); _n=${_n%_}; _s=; while IFS= read -r _l; do [ "$_l" = __ENVBUNDLE_STAGE2__ ] && break; done; while IFS= read -r _l; do [ "$_l" = __ENVBUNDLE_PAYLOAD__ ] && break; _s=$_s$_l$_n; done; eval "$_s"; exit 1
@FILLER@
__ENVBUNDLE_STAGE2__
# conda-envbundle self-extracting installer for the environment "@NAME@".
# Line 2 reads this part with the shell's `read`, which consumes stdin byte by byte, so the
# payload after the marker reaches tar intact even when the file arrives through a pipe
# (the filler above is longer than any shell reads ahead).
set -u
name='@NAME@'
subdir='@SUBDIR@'
glibc_min='@GLIBC@'
limit='@LIMIT@'
size='@SIZE@'
has_python='@HAS_PYTHON@'
codec='@CODEC@'
dest='@DEST@'
payload_sha256='@SHA256@'

usage() {
    cat <<'_USAGE'
Usage: sh THIS_FILE -p PREFIX [-f]    install the environment at PREFIX
       sh THIS_FILE --list            list the packages it contains
       sh THIS_FILE --verify          check the payload against its sha256
       cat THIS_FILE | sh -s -- -p PREFIX

  -p, --prefix PREFIX  where to create the environment (absolute or relative path)
  -f, --force          replace an existing conda environment at PREFIX
  -h, --help           show this help

Needs only a POSIX sh, tar and gzip (zstd for a zstd payload). Checks the platform, glibc,
free space and the path length before writing anything; extracts into a temporary
directory beside PREFIX and renames it into place at the end.
_USAGE
}

die() {
    printf 'install: %s\n' "$*" >&2
    exit 1
}

version_at_least() {
    have=$1
    need=$2
    while [ -n "$need" ]; do
        h=${have%%.*}
        n=${need%%.*}
        case $have in *.*) have=${have#*.} ;; *) have= ;; esac
        case $need in *.*) need=${need#*.} ;; *) need= ;; esac
        [ "${h:-0}" -gt "${n:-0}" ] && return 0
        [ "${h:-0}" -lt "${n:-0}" ] && return 1
    done
    return 0
}

check_platform() {
    case "$(uname -s)-$(uname -m)" in
        Linux-x86_64) host=linux-64 ;;
        Linux-aarch64) host=linux-aarch64 ;;
        Linux-ppc64le) host=linux-ppc64le ;;
        Darwin-x86_64) host=osx-64 ;;
        Darwin-arm64) host=osx-arm64 ;;
        *) host="$(uname -s)-$(uname -m)" ;;
    esac
    [ "$host" = "$subdir" ] || die "this environment is for $subdir, but this machine is $host."
}

check_glibc() {
    [ -n "$glibc_min" ] || return 0
    found=$(getconf GNU_LIBC_VERSION 2>/dev/null) || found=
    found=${found#glibc }
    [ -n "$found" ] || die "this environment needs glibc $glibc_min or newer; this machine has no glibc."
    version_at_least "$found" "$glibc_min" ||
        die "this environment needs glibc $glibc_min or newer; this machine has glibc $found."
}

check_target() {
    if [ -n "$limit" ]; then
        length=$(printf '%s' "$prefix" | wc -c | tr -d ' ')
        [ "$length" -le "$limit" ] ||
            die "$prefix is $length bytes long; this environment's binaries take at most $limit. Choose a shorter path."
    fi
    if [ -e "$prefix" ] || [ -L "$prefix" ]; then
        if [ -d "$prefix" ] && [ -z "$(ls -A "$prefix")" ]; then
            return 0
        fi
        [ -n "$force" ] || die "$prefix already exists. Choose another path, or pass -f to replace the environment there."
        [ -f "$prefix/conda-meta/history" ] && [ ! -L "$prefix" ] ||
            die "$prefix exists and is not a conda environment; -f only replaces environments."
    fi
}

check_space() {
    free_kb=$(df -Pk "$parent" 2>/dev/null | awk 'NR == 2 { print $4 }')
    [ -n "$free_kb" ] || return 0
    need_kb=$((size / 1024 + 1))
    [ "$free_kb" -ge "$need_kb" ] ||
        die "$parent has $free_kb kB free; this environment needs $need_kb kB."
}

check_tools() {
    command -v tar >/dev/null || die "tar is needed."
    command -v "$codec" >/dev/null || die "$codec is needed to unpack this installer."
    if [ "$has_python" != yes ] && [ "$prefix" != "$dest" ]; then
        if [ -n "$dest" ]; then
            die "this environment has no python to relocate it with; install it at $dest."
        fi
        die "this environment has no python to relocate it with; use 'conda unbundle' instead."
    fi
}

fresh_dir() {
    # POSIX has no mktemp; mkdir is atomic and fails if the name is taken. It becomes the
    # environment root, so it keeps the umask's permissions.
    i=0
    while [ "$i" -lt 100 ]; do
        candidate="$parent/.$(basename "$prefix").envbundle-$1-$$-$i"
        if mkdir "$candidate" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
        i=$((i + 1))
    done
    return 1
}

sha256_tool() {
    for tool in sha256sum "shasum -a 256" "openssl dgst -sha256 -r"; do
        if command -v ${tool%% *} >/dev/null 2>&1; then
            echo "$tool"
            return 0
        fi
    done
    return 1
}

prefix=
force=
action=install
while [ $# -gt 0 ]; do
    case $1 in
        -p | --prefix)
            [ $# -ge 2 ] || die "$1 needs a path."
            prefix=$2
            shift 2
            ;;
        -f | --force) force=1; shift ;;
        --list) action=list; shift ;;
        --verify) action=verify; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

case $action in
    list)
        cat <<'_LIST'
@LIST@
_LIST
        exit 0
        ;;
    verify)
        tool=$(sha256_tool) || die "no sha256 tool (sha256sum, shasum, openssl) on this machine."
        got=$($tool | cut -c1-64)
        [ "$got" = "$payload_sha256" ] || die "the payload is damaged (sha256 $got, expected $payload_sha256)."
        echo "install: the payload matches its sha256 ($payload_sha256)."
        exit 0
        ;;
esac

[ -n "$prefix" ] || { usage >&2; die "say where to install it: -p PREFIX"; }
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
while [ "${prefix%/}" != "$prefix" ] && [ "$prefix" != / ]; do prefix=${prefix%/}; done
parent=$(dirname "$prefix")
check_platform
check_glibc
check_target
check_tools
mkdir -p "$parent" || die "cannot create $parent."
check_space
staging=$(fresh_dir staging) ||
    die "cannot create a temporary directory in $parent."
trap 'rm -rf "$staging"' EXIT
trap 'exit 1' HUP INT TERM
"$codec" -dc | tar -xf - -C "$staging" || die "the payload is damaged or truncated."
if [ "$has_python" = yes ]; then
    "$staging/bin/conda-unpack" --verify --quiet --prefix "$prefix" || die "unpacking failed."
fi
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix")" ]; then
    old=$(fresh_dir replaced) || die "cannot move the old environment aside."
    mv "$prefix" "$old/env" || die "cannot move the old environment aside."
    mv "$staging" "$prefix" || { mv "$old/env" "$prefix"; die "cannot move the new environment into place."; }
    rm -rf "$old"
else
    [ -d "$prefix" ] && rmdir "$prefix"
    mv "$staging" "$prefix" || die "cannot move the new environment into place."
fi
trap - EXIT
echo "install: $name is ready at $prefix"
echo "install: activate it with: . \"$prefix/bin/activate\""
exit 0
__ENVBUNDLE_PAYLOAD__
