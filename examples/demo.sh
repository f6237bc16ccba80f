#!/usr/bin/env bash
# A cache in a temp dir, one job's output uploaded from one clone and downloaded into another.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dircache="$here/bin/dircache"
demo=$(mktemp -d "${TMPDIR:-/tmp}/dircache-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
g() { git -c user.email=demo@example.com -c user.name=demo -c init.defaultBranch=main "$@"; }

run "$dircache" init "$demo/cache" --size 1G
export DIRCACHE_DIR="$demo/cache"

say "# workspace A: a repo whose job compiles hello.c into out/hello.txt"
mkdir -p "$demo/a" && cd "$demo/a"
g init -q && printf 'int main() { return 0; }\n' > hello.c && g add hello.c && g commit -qm 'hello'
mkdir -p out && { echo "built from:"; cat hello.c; } > out/hello.txt
run "$dircache" upload --job compile:hello --target out --dep hello.c --input cc=demo-1

say "# workspace B: a clone at the same commit"
g clone -q "$demo/a" "$demo/b" && cd "$demo/b"
run "$dircache" download --job compile:hello --dep hello.c --input cc=demo-1
run cat out/hello.txt
cmp "$demo/a/out/hello.txt" "$demo/b/out/hello.txt" && echo "(byte-identical to workspace A's)"

say "# change the dep: a miss (exit code 1)"
echo '/* edited */' >> hello.c
set +e; "$dircache" download --job compile:hello --dep hello.c --input cc=demo-1; echo "exit code $?"; set -e
run "$dircache" config
