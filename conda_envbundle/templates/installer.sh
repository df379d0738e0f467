#!/bin/sh
if [ -f "$0" ] && grep -q '^__ENVBUNDLE_STAGE2__$' "$0" 2>/dev/null; then exec <"$0"; fi; _n=$(printf '\n_'); _n=${_n%_}; _s=; while IFS= read -r _l; do [ "$_l" = __ENVBUNDLE_STAGE2__ ] && break; done; while IFS= read -r _l; do [ "$_l" = __ENVBUNDLE_PAYLOAD__ ] && break; _s=$_s$_l$_n; done; eval "$_s"; exit 1
@FILLER@
__ENVBUNDLE_STAGE2__
sha256='@SHA256@'
# conda-envbundle self-extracting installer. `sha256` is the sha256 of this whole file
# with those 64 digits written as zeros (they start at byte `sha256_at`): it covers this
# header and the payload, and detects damage, not tampering (see docs/security.md).
# Line 2 reads this part with the shell's `read`, which consumes stdin byte by byte, so the
# payload after the marker reaches tar intact even when the file arrives through a pipe
# (the filler above is longer than any shell reads ahead).
# Every value below is one single-quoted word on one line, newlines spelled "$nl".
set -u
nl='
'
sha256_at=@SHA256_AT@
name=@NAME@
subdir=@SUBDIR@
glibc_min=@GLIBC@
limit=@LIMIT@
size=@SIZE@
has_python=@HAS_PYTHON@
codec=@CODEC@
dest=@DEST@

list_packages() {
    printf '%s\n' \
@LIST@
}

usage() {
    cat <<'_USAGE'
Usage: sh THIS_FILE -p PREFIX [-f]    install the environment at PREFIX
       sh THIS_FILE --list            list the packages it contains
       sh THIS_FILE --verify          check this file against its sha256
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
    # The names conda unbundle uses (8 characters of [a-z0-9_] after the mark), so either
    # tool removes what a dead run of the other left.
    i=0
    while [ "$i" -lt 100 ]; do
        candidate="$parent/.$(basename "$prefix").envbundle-$1-$(printf '%08d' $((($$ * 100 + i) % 100000000)))"
        if mkdir "$candidate" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
        i=$((i + 1))
    done
    return 1
}

lock_target() {
    # conda unbundle's lock: flock on .NAME.envbundle-lock beside the target, taken with
    # flock(1) or perl on the inherited descriptor 9 (the lock lives as long as this shell).
    # The kernel drops it when the shell dies, so a run that holds it knows that any
    # leftover beside the target belongs to a dead run.
    if ! command -v flock >/dev/null 2>&1 && ! command -v perl >/dev/null 2>&1; then
        echo "install: no flock or perl here: $prefix is not locked against other runs, and leftovers of killed runs are kept." >&2
        return 0
    fi
    lock="$parent/.$(basename "$prefix").envbundle-lock"
    busy="another install or conda unbundle is writing $prefix right now (lock file $lock). Wait for it to finish, then try again."
    i=0
    while [ "$i" -lt 10 ]; do
        exec 9>>"$lock" || die "cannot create the lock file $lock."
        if command -v flock >/dev/null 2>&1; then
            flock -n 9 || die "$busy"
        else
            perl -MFcntl=:flock -e 'open(my $f, ">&=", 9) && flock($f, LOCK_EX | LOCK_NB) or exit 1' ||
                die "$busy"
        fi
        # the last holder removes the file before it unlocks: ours must still be that file
        if [ /dev/fd/9 -ef "$lock" ]; then
            locked=1
            : >"$lock"
            echo "$$" >&9
            return 0
        fi
        exec 9>&-
        i=$((i + 1))
    done
    die "cannot lock $lock."
}

clean_leftovers() {
    # Under the lock: what dead runs (of this installer or conda unbundle) left. An old
    # environment moved aside goes back when the target is missing; the rest is removed.
    [ -n "$locked" ] || return 0
    ch='[a-z0-9_]'
    for aside in "$parent/.$(basename "$prefix").envbundle-replaced-"$ch$ch$ch$ch$ch$ch$ch$ch; do
        [ -d "$aside" ] && [ ! -L "$aside" ] || continue
        if [ -d "$aside/env" ] && [ ! -e "$prefix" ] && [ ! -L "$prefix" ]; then
            mv "$aside/env" "$prefix" || die "cannot put the old environment in $aside/env back at $prefix; move it back yourself."
        fi
        rm -rf "$aside"
    done
    for dead in "$parent/.$(basename "$prefix").envbundle-staging-"$ch$ch$ch$ch$ch$ch$ch$ch; do
        [ -d "$dead" ] && [ ! -L "$dead" ] && rm -rf "$dead"
    done
    return 0
}

on_exit() {
    [ -z "$staging" ] || rm -rf "$staging"
    [ -z "$locked" ] || rm -f "$lock"
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

verify_file() {
    # The file itself is read again: through a pipe, the shell has consumed its start.
    [ -f "$0" ] && grep -q '^__ENVBUNDLE_STAGE2__$' "$0" 2>/dev/null ||
        die "--verify reads the installer file: run sh FILE --verify, not through a pipe."
    tool=$(sha256_tool) ||
        die "no sha256 tool (sha256sum, shasum, openssl) here: check the file with 'conda unbundle --verify FILE', or compare its sha256 with the one conda bundle printed."
    got=$({
        dd if="$0" bs="$sha256_at" count=1 2>/dev/null
        printf '%064d' 0
        tail -c +"$((sha256_at + 65))" "$0"
    } | $tool | cut -c1-64)
    [ "$got" = "$sha256" ] ||
        die "this installer is damaged or was changed: its sha256 is $got, its header says $sha256."
    printf 'install: this installer matches its sha256 (%s).\n' "$sha256"
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
        list_packages
        exit 0
        ;;
    verify)
        verify_file
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
staging=
locked=
trap on_exit EXIT
trap 'exit 1' HUP INT TERM
lock_target
clean_leftovers
check_target # again: a leftover may have been put back, or another run finished meanwhile
check_space
staging=$(fresh_dir staging) ||
    die "cannot create a temporary directory in $parent."
"$codec" -dc | tar -xf - -C "$staging" || die "the payload is damaged or truncated."
if [ "$has_python" = yes ]; then
    "$staging/bin/conda-unpack" --verify --quiet --prefix "$prefix" || die "unpacking failed."
fi
if [ -e "$prefix" ] && [ -n "$(ls -A "$prefix")" ]; then
    # One atomic exchange where mv can (GNU coreutils 9.5+); the old environment then is
    # in $staging, which the exit trap removes. Elsewhere two renames, and a run killed
    # between them is repaired by the next one (clean_leftovers, or conda unbundle).
    if ! mv --exchange "$staging" "$prefix" 2>/dev/null; then
        old=$(fresh_dir replaced) || die "cannot move the old environment aside."
        mv "$prefix" "$old/env" || die "cannot move the old environment aside."
        mv "$staging" "$prefix" || { mv "$old/env" "$prefix"; die "cannot move the new environment into place."; }
        staging=$old
    fi
else
    [ -d "$prefix" ] && rmdir "$prefix"
    mv "$staging" "$prefix" || die "cannot move the new environment into place."
    staging=
fi
printf 'install: %s is ready at %s\n' "$name" "$prefix"
printf 'install: activate it with: . "%s/bin/activate"\n' "$prefix"
exit 0
__ENVBUNDLE_PAYLOAD__
