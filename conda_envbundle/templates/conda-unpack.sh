#!/bin/sh
# conda-unpack: make this environment work where it now is (after tar -x, or a move).
# Runs the environment's own python by path: no conda and no python on PATH needed.
here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd) || exit 1  # CDPATH: cd would print
prefix=$(dirname "$here")
# Until this step has run, python may find libpython only through the absolute path its
# binary was built with; and it must not write bytecode (-B) while its sources' pycs
# are being checked and rewritten.
LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
for python in "$prefix/bin/python3" "$prefix/bin/python"; do
    if [ -x "$python" ]; then
        exec "$python" -B -s -E "$prefix/bin/.conda-unpack.py" "$@"
    fi
done
echo "conda-unpack: this environment has no python to run the unpack step with." >&2
echo "Use 'conda unbundle' on a machine with conda, or make the bundle with" >&2
echo "'conda bundle --dest-prefix PATH' so that it needs no unpack step." >&2
exit 1
