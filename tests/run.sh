#!/usr/bin/env bash
# Portal's test command: installs what the tests need when it is missing (Debian's chromium), builds, runs every
# test project, and ends with one line "N passed, N failed" summed over all of them. Exit status 0 only if all passed.
set -uo pipefail
cd "$(dirname "$0")/.."

results="artifacts/test-results"
rm -rf "$results"
mkdir -p "$results" artifacts/screenshots

# --- what the tests need ---------------------------------------------------------------------------------------
need_packages=()
[ -x "${PORTAL_CHROMIUM:-/usr/bin/chromium}" ] || need_packages+=(chromium)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "Installing ${need_packages[*]} (Debian packages the tests need)..."
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_packages[@]}" >/dev/null; }; then
    echo "Could not install ${need_packages[*]} with apt-get; install them and run again."
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

# --- build once, warnings are errors ---------------------------------------------------------------------------
if ! dotnet build Portal.sln -c Release -nologo -v quiet; then
  echo "The build failed."
  echo "0 passed, 1 failed"
  exit 1
fi

# --- run every test project ------------------------------------------------------------------------------------
projects=$(find tests -name '*.csproj' -path '*Tests*' | sort)
status=0
for project in $projects; do
  name=$(basename "$project" .csproj)
  echo "== $name"
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" --blame-hang-timeout 10m || status=1
done

# --- one line: N passed, N failed -------------------------------------------------------------------------------
passed=0
failed=0
for project in $projects; do
  name=$(basename "$project" .csproj)
  trx="$results/$name.trx"
  if [ ! -f "$trx" ]; then
    echo "$name produced no results (its test run did not complete)."
    failed=$((failed + 1))
    continue
  fi
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  total=${total:-0}
  p=${p:-0}
  # Everything that did not pass counts as failed: failures, errors, timeouts, aborts and skips alike.
  passed=$((passed + p))
  failed=$((failed + total - p))
done
[ "$failed" -eq 0 ] && [ "$status" -ne 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
