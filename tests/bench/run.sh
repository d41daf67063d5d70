#!/bin/bash
# make bench: every benchmark of the project. Results land in build/bench/.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
"$here/tests/guest/build.sh" "$here/build/guest"
exec "$here/tests/tcg-only.sh" /usr/bin/python3 "$here/tests/bench/migration_bench.py" "$@"
