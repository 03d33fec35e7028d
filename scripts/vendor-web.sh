#!/usr/bin/env bash
# Refresh resources/web/vendor/ from web-vendor/package-lock.json: the browser libraries the page
# loads (xterm.js and its addons), their stylesheet and their licenses, nothing else. The page
# never loads anything from the network; these files are all it gets.
#
#   bash scripts/vendor-web.sh           # npm ci, then copy (run it again: same result)
#   bash scripts/vendor-web.sh --check   # npm ci, then fail if the vendored files differ
#
# To move to new versions: edit web-vendor/package.json, run `npm install --ignore-scripts` in
# web-vendor/ (it rewrites package-lock.json), then this script, and commit all three.
# The copies are byte for byte what the lock's tarballs hold; resources/web/vendor/SHA256SUMS and
# versions.json let tests/web/test_vendor.py check that without npm or the network.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/web-vendor"
DEST="$ROOT/resources/web/vendor"
CHECK=0
[[ "${1:-}" == "--check" ]] && CHECK=1

# package -> the files the page needs from it (paths inside the package)
FILES=(
  "@xterm/xterm:lib/xterm.mjs css/xterm.css LICENSE"
  "@xterm/addon-fit:lib/addon-fit.mjs LICENSE"
  "@xterm/addon-search:lib/addon-search.mjs LICENSE"
  "@xterm/addon-unicode11:lib/addon-unicode11.mjs LICENSE"
  "@xterm/addon-web-links:lib/addon-web-links.mjs LICENSE"
  "@xterm/addon-webgl:lib/addon-webgl.mjs LICENSE"
)

(cd "$SRC" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
versions="{"
for entry in "${FILES[@]}"; do
  package="${entry%%:*}"
  folder="$OUT/${package#@xterm/}"  # vendor/xterm, vendor/addon-fit, ...
  mkdir -p "$folder"
  for file in ${entry#*:}; do
    cp "$SRC/node_modules/$package/$file" "$folder/$(basename "$file")"
  done
  version="$(node -p "require('$SRC/node_modules/$package/package.json').version")"
  versions+="$([[ "$versions" == "{" ]] || echo ",")"$'\n'"  \"$package\": \"$version\""
done
printf '%s\n}\n' "$versions" >"$OUT/versions.json"
(cd "$OUT" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)

if ((CHECK)); then
  if diff -r "$OUT" "$DEST"; then
    echo "resources/web/vendor/ is what web-vendor/package-lock.json gives"
  else
    echo "resources/web/vendor/ differs from web-vendor/package-lock.json: run scripts/vendor-web.sh" >&2
    exit 1
  fi
  exit 0
fi
rm -rf "$DEST"
cp -r "$OUT" "$DEST"
chmod -R u=rwX,go=rX "$DEST"
echo "resources/web/vendor/: $(wc -l <"$DEST/SHA256SUMS") files"
