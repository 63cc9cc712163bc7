#!/usr/bin/env bash
# Until the first release, the schema is one initial migration, regenerated from the models.
# (After a release, add new revisions with `alembic revision --autogenerate` instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/*_initial_schema.py
TONGBAN_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate \
  --rev-id 0001 -m "initial schema" >/dev/null
.venv/bin/python scripts/postprocess_migration.py migrations/versions/0001_initial_schema.py
.venv/bin/ruff format -q migrations/versions/0001_initial_schema.py
.venv/bin/ruff check -q --fix migrations/versions/0001_initial_schema.py || true
rm -rf "$tmp"
echo "wrote migrations/versions/0001_initial_schema.py"
