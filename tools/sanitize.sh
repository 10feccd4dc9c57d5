#!/usr/bin/env bash
# Build the extension with AddressSanitizer and UndefinedBehaviorSanitizer in
# a copy of the checkout's tracked files, and run the test suite there.
#
#     bash tools/sanitize.sh [pytest arguments]
#
# Python itself is not built with ASan, so the runtime is preloaded. Leak
# detection is off (the interpreter keeps memory to the end on purpose), and
# the allocator returns NULL for absurd requests as the system's does (the
# tests ask for them, expecting a MemoryError). Any report stops the run
# (-fno-sanitize-recover=all, halt_on_error=1).
set -euo pipefail
cd "$(dirname "$0")/.."
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
git ls-files -z | xargs -0 tar cf - | tar xf - -C "$copy"
cd "$copy"
DECONV_SANITIZE=address,undefined python setup.py build_ext --inplace > build.log 2>&1 \
  || { tail -40 build.log; exit 1; }
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  python -m pytest -q -p no:cacheprovider "$@"
