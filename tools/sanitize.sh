#!/usr/bin/env bash
# Build the Cython extension with AddressSanitizer + UndefinedBehaviorSanitizer and the Cython bounds
# checks on (CMake option FASTXENT_SANITIZE: -O1 -g -fsanitize=address,undefined, boundscheck,
# wraparound and initializedcheck), in its own copy of the source and its own venv, and run the test
# suite's cython-backend tests under it.  The repository and any other environment are left untouched.
#
#   tools/sanitize.sh [pytest arguments...]      (default: tests/ but the memory-growth tests, numba deselected)
#
# Environment:
#   FASTXENT_SANITIZE_DIR   work directory (default /tmp/fastxent-sanitize): source copy, venv, logs
#   PYTHON                  interpreter for the venv (default python3)
#   SANITIZE_NUMBA=1        also run the numba-backend tests (numba's JIT code is not instrumented;
#                           only the calls into the instrumented extension and numpy are checked)
#
# Exit status: non-zero when pytest fails or when either sanitizer wrote a report.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${FASTXENT_SANITIZE_DIR:-/tmp/fastxent-sanitize}"
PYTHON="${PYTHON:-python3}"
SRC="$WORK/src"
VENV="$WORK/venv"
LOGS="$WORK/logs"

case "$WORK" in
    "$REPO"|"$REPO"/*) echo "FASTXENT_SANITIZE_DIR must be outside the repository ($REPO)" >&2; exit 2 ;;
esac

echo "== source copy of the tracked files in $SRC"
rm -rf "$SRC" "$LOGS"
mkdir -p "$SRC" "$LOGS"
(cd "$REPO" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$SRC"

echo "== venv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install --quiet "scikit-build-core>=0.10" "cython>=3.0.8" "numpy>=2.0" "numba>=0.60" tqdm \
    pytest hypothesis scipy mpmath scikit-learn

echo "== sanitizer build (FASTXENT_SANITIZE=ON, Debug)"
python -m pip install --quiet --no-build-isolation --no-deps --force-reinstall \
    -Ccmake.define.FASTXENT_SANITIZE=ON -Ccmake.build-type=Debug -Cbuild-dir="$WORK/build" "$SRC"
EXT="$(python -c 'import importlib.util as u; print(u.find_spec("fastxent._cython").origin)')"
if ! ldd "$EXT" | grep libasan >/dev/null; then  # not grep -q: under pipefail its early exit fails ldd
    echo "the extension $EXT is not linked against libasan: the sanitizer build did not happen" >&2
    exit 1
fi
echo "extension: $EXT"

LIBASAN="$(gcc -print-file-name=libasan.so)"
# CPython is not built with ASan: libasan must come first (LD_PRELOAD). Leak checking is off because
# CPython and numpy keep allocations alive until exit by design; PYTHONMALLOC=malloc sends Python's
# small objects through ASan's allocator too. Reports go to files, checked below.
export LD_PRELOAD="$LIBASAN"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$LOGS/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$LOGS/ubsan"
export FASTXENT_BACKEND=cython

if [ "$#" -eq 0 ]; then
    # ASan's quarantine keeps freed memory resident by design: the memory-growth tests mean nothing here.
    set -- tests --ignore=tests/test_memory_growth.py
    if [ "${SANITIZE_NUMBA:-0}" != 1 ]; then
        set -- "$@" -k "not numba"
    fi
fi

echo "== pytest under ASan + UBSan: $*"
cd "$SRC"
set +e
python -m pytest -p no:cacheprovider -q -rfE "$@"
status=$?
set -e
unset LD_PRELOAD

reports=$(find "$LOGS" -type f | sort)
if [ -n "$reports" ]; then
    echo "== sanitizer reports:" >&2
    for report in $reports; do
        echo "--- $report" >&2
        cat "$report" >&2
    done
    [ "$status" -ne 0 ] || status=1
else
    echo "== no AddressSanitizer or UBSan report"
fi
exit "$status"
