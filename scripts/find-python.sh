#!/usr/bin/env bash
# Print the path of a working Python of the Lambda runtime's minor version (default 3.12).
# `sam build` without Docker needs exactly that interpreter; pyenv shims exist on these machines
# but only work for the active version, so each candidate is actually run.
set -u
want="${1:-3.12}"
candidates=("python$want")
for dir in "$HOME"/.pyenv/versions/"$want".*/bin /usr/local/bin /usr/bin; do
  candidates+=("$dir/python$want")
done
for candidate in "${candidates[@]}"; do
  if path=$(command -v "$candidate" 2>/dev/null) && "$path" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
    "$path" -c "import sys; print(sys.executable)"
    exit 0
  fi
done
echo "find-python: no working python$want found (install it, e.g. 'pyenv install $want')" >&2
exit 1
