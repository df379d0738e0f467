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
space=@SPACE@
space_at=@SPACE_AT@
space_per_byte=@SPACE_PER_BYTE@
entries=@ENTRIES@
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

quoted() {
    # $1 as one single-quoted sh word, so that a command we suggest is safe to paste
    # (the _ keeps the trailing newlines that $(...) would drop)
    q=$(printf '%s_' "$1" | sed "s/'/'\\\\''/g")
    printf "'%s'" "${q%_}"
}

remove_tree() {
    # rm -rf cannot empty a read-only directory (environments may ship one): give the
    # owner write access first. chmod -R does not follow the symlinks it meets.
    chmod -R u+rwX "$1" 2>/dev/null
    rm -rf "$1"
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
    check_name
    if [ -n "$limit" ]; then
        length=$(printf '%s' "$prefix" | wc -c | tr -d ' ')
        [ "$length" -le "$limit" ] ||
            die "$prefix is $length bytes long; this environment's binaries take at most $limit. Choose a shorter path."
    fi
    if [ -e "$prefix" ] || [ -L "$prefix" ]; then
        ! is_mount_point "$prefix" ||
            die "$prefix is a mount point, and this installer puts an environment in place by renaming a directory over its target, which a mount point cannot take. Install into a directory inside it, such as $prefix/NAME."
        # not through a symlink: mv would put the environment inside what it points to
        if [ -d "$prefix" ] && [ ! -L "$prefix" ] && [ -z "$(ls -A "$prefix")" ]; then
            return 0
        fi
        [ -n "$force" ] || die "$prefix already exists. Choose another path, or pass -f to replace the environment there."
        [ -f "$prefix/conda-meta/history" ] && [ ! -L "$prefix" ] ||
            die "$prefix exists and is not a conda environment; -f only replaces environments."
    fi
}

check_name() {
    # The hidden directories beside the target are named after it, 29 bytes longer
    # (.NAME.envbundle-replaced-XXXXXXXX), like conda unbundle's.
    existing=$parent
    while [ ! -d "$existing" ]; do
        existing=${existing%/*}
        [ -n "$existing" ] || existing=/
    done
    name_max=$(getconf NAME_MAX "$existing" 2>/dev/null) || name_max=
    case $name_max in '' | *[!0-9]*) name_max=255 ;; esac
    length=$(printf '%s' "$base" | wc -c | tr -d ' ')
    [ $((length + 29)) -le "$name_max" ] ||
        die "the name $base is $length bytes long, too long for the hidden directories beside it that are named after it (.NAME.envbundle-replaced-XXXXXXXX, 29 bytes more): this file system takes names of at most $name_max bytes. Choose a name of at most $((name_max - 29)) bytes."
}

is_mount_point() {
    # df names the mount point of the file system a directory is on: a mount point when
    # that is the directory itself (bind mounts of the same file system included)
    [ -d "$1" ] && [ ! -L "$1" ] || return 1
    real=$(cd "$1" 2>/dev/null && pwd -P) || return 1
    [ "$real" != / ] || return 0
    case $(df -P "$real" 2>/dev/null) in *" $real") return 0 ;; esac
    return 1
}

check_space() {
    # conda unbundle's estimate, made when the bundle was: for a target of up to
    # $space_at bytes, and what each further byte can add (see docs/security.md)
    length=$(printf '%s' "$prefix" | wc -c | tr -d ' ')
    need=$space
    [ "$length" -le "$space_at" ] || need=$((need + (length - space_at) * space_per_byte))
    need_kb=$(((need + 1023) / 1024))
    free_kb=$(df -Pk "$parent" 2>/dev/null | awk 'NR == 2 { print $4 }')
    case $free_kb in '' | *[!0-9]*) ;; *)
        [ "$free_kb" -ge "$need_kb" ] ||
            die "this environment needs $need_kb kB of free space at $parent; only $free_kb kB are free. Free some space or choose another path." ;;
    esac
    # not every df counts inodes (-i); file systems without a limit report none free
    free_files=$(df -Pi "$parent" 2>/dev/null | awk 'NR == 2 && $2 > 0 { print $4 }')
    case $free_files in '' | *[!0-9]*) ;; *)
        [ "$free_files" -ge "$entries" ] ||
            die "this environment needs $entries files at $parent; the file system has room for only $free_files more. Free some inodes or choose another path." ;;
    esac
}

extract() {
    # What tar and the decompressor say, kept bounded: a full disk makes tar complain
    # once per file. The last line says whether the pipeline failed.
    { { "$codec" -dc | tar -xf - -C "$staging"; } 2>&1 >/dev/null || echo '!failed'; } |
        awk '/[Nn]o space left on device/ { full = 1 } /[Dd]isk quota exceeded/ { quota = 1 }
            /^!failed$/ { failed = 1; next } n < 3 { first[++n] = $0 }
            END { if (!failed) exit; if (full) print "full"; else if (quota) print "quota"
                  else { print "damaged"; for (i = 1; i <= n; i++) print first[i] } }'
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
        candidate="$parent/.$base.envbundle-$1-$(printf '%08d' $((($$ * 100 + i) % 100000000)))"
        if mkdir "$candidate" 2>/dev/null; then
            printf '%s\n' "$candidate"
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
    lock="$parent/.$base.envbundle-lock"
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
    for aside in "$parent/.$base.envbundle-replaced-"$ch$ch$ch$ch$ch$ch$ch$ch; do
        [ -d "$aside" ] && [ ! -L "$aside" ] || continue
        if [ -d "$aside/env" ] && [ ! -e "$prefix" ] && [ ! -L "$prefix" ]; then
            mv "$aside/env" "$prefix" || die "cannot put the old environment in $aside/env back at $prefix; move it back yourself."
        fi
        remove_tree "$aside"
    done
    for dead in "$parent/.$base.envbundle-staging-"$ch$ch$ch$ch$ch$ch$ch$ch; do
        [ -d "$dead" ] && [ ! -L "$dead" ] && remove_tree "$dead"
    done
    return 0
}

on_exit() {
    [ -z "$staging" ] || remove_tree "$staging"
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
# not $(dirname): it would drop a newline that ends a directory's name
parent=${prefix%/*}
[ -n "$parent" ] || parent=/
base=${prefix##*/}
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
problem=$(extract)
case $problem in
    '') ;;
    full) die "no space left at $parent (no free blocks or no free inodes): this environment needs $need_kb kB and $entries files there. Free some space or choose another path." ;;
    quota) die "your disk quota at $parent is exhausted: this environment needs $need_kb kB and $entries files there. Free some space or choose another path." ;;
    *)
        [ "$problem" = damaged ] || printf '%s\n' "${problem#damaged$nl}" >&2
        die "the payload is damaged or truncated."
        ;;
esac
if [ "$has_python" = yes ]; then
    "$staging/bin/conda-unpack" --verify --quiet --prefix "$prefix" ||
        die "bin/conda-unpack could not finish (its message is above); nothing was installed at $prefix."
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
    if [ -d "$prefix" ]; then
        rmdir "$prefix" || die "cannot replace the empty directory $prefix."
    fi
    mv "$staging" "$prefix" || die "cannot move the new environment into place."
    staging=
fi
printf 'install: %s is ready at %s\n' "$name" "$prefix"
printf 'install: activate it with: . %s\n' "$(quoted "$prefix/bin/activate")"
exit 0
__ENVBUNDLE_PAYLOAD__
