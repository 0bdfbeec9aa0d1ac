#!/usr/bin/env bash
# Installs what the cluster tests start by themselves: PostgreSQL's server programs
# (Debian's postgresql package; the tests run a throwaway server on 127.0.0.1) and the
# Python cluster extra (Dask distributed, psycopg 3). Idempotent and quick when present.
# The tests start the Dask scheduler/workers and the PostgreSQL server themselves
# (tests/cluster/services.py), so nothing is left running after them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    echo "services.sh: installing PostgreSQL (Debian package postgresql)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    # The package starts a cluster of its own on port 5432; the tests do not use it.
    $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
ls /usr/lib/postgresql/*/bin/initdb

python -c "import distributed, psycopg" 2>/dev/null \
    || python -m pip install --quiet "dask[distributed]>=2024.1" "psycopg[binary]>=3.1"
python -c "import distributed, psycopg; print('services.sh: distributed', distributed.__version__, '/ psycopg', psycopg.__version__)"
