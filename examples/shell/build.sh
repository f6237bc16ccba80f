#!/bin/sh
# A build script whose slow steps go through `dircache run`: no wrapper logic of its own.
#   DIRCACHE_DIR=/path/to/cache ./build.sh     (DIRCACHE=/path/to/bin/dircache if not on PATH)
# Run it twice, or in another clone: the second time every step is a hit.
set -eu
cd "$(dirname "$0")"
DIRCACHE=${DIRCACHE:-dircache}
mkdir -p out

# One job per step: its targets, the files it reads, and the command (run without a shell,
# so a pipeline is wrapped in sh -c). The command line is part of the key.
"$DIRCACHE" run --job shell/words --target out/words.txt --dep input.txt -- \
  sh -c 'tr -s "[:space:]" "\n" < input.txt | sort | uniq -c | sort -rn > out/words.txt'

"$DIRCACHE" run --job shell/report --target out/report.txt --dep out/words.txt -- \
  sh -c 'head -n 3 out/words.txt > out/report.txt'

cat out/report.txt
