#!/usr/bin/env bash
# Make the sample scenarios runnable: import them, build the blueprints they need (only
# those missing), register their custom scorers. Idempotent and quick when already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sb=.venv/bin/sandbench

"$sb" scenarios import sample_scenarios >/dev/null
known=$("$sb" blueprints list --json)
for dir in sample_scenarios/blueprints/*/; do
    name=$(basename "$dir")
    if ! grep -q "\"name\": \"$name\"" <<<"$known" \
        || ! podman image exists "localhost/sandbench-blueprint-$name:latest"; then
        printf 'samples: building blueprint %s\n' "$name" >&2
        "$sb" blueprints build "$name" "$dir" 2>/dev/null
    fi
done
for script in sample_scenarios/scorers/*.sh; do
    "$sb" scorers register "$(basename "$script" .sh)" --script "$script" >/dev/null
done
printf 'samples: ready (%s scenarios)\n' "$(ls sample_scenarios/*.toml | wc -l)" >&2
