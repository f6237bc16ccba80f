// Row: warm rebuild of a generated multi-file C project through `dircache run` (all hits) vs the same
// warm rebuild through ccache (direct mode), with the same Makefile.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN, QUICK, cliEnv, fmtMs, median, row, run, scratch } from './lib.mjs';
import { newCache } from './setup.mjs';

const FILES = QUICK ? 6 : 30;

/** FILES .c files, each including a shared header, two module headers and libc headers. */
function generateProject(dir) {
  fs.mkdirSync(path.join(dir, 'include'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'include', 'common.h'), '#pragma once\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#define SCALE 3\n');
  const objs = [];
  for (let i = 0; i < FILES; i++) {
    fs.writeFileSync(path.join(dir, 'include', `m${i}.h`), `#pragma once\nint m${i}(int x);\n`);
    const body = [];
    for (let k = 0; k < 20; k++) body.push(`static int f${k}(int x) { char b[64]; snprintf(b, sizeof b, "%d", x * ${k}); return (int)strlen(b) + x % ${k + 2}; }`);
    fs.writeFileSync(
      path.join(dir, `m${i}.c`),
      `#include "common.h"\n#include "m${i}.h"\n#include "m${(i + 1) % FILES}.h"\n${body.join('\n')}\n` +
        `int m${i}(int x) { return ${Array.from({ length: 20 }, (_, k) => `f${k}(x)`).join(' + ')} + SCALE; }\n`,
    );
    objs.push(`m${i}.o`);
  }
  fs.writeFileSync(path.join(dir, 'main.c'), `#include "common.h"\n${objs.map((_, i) => `#include "m${i}.h"`).join('\n')}\nint main(void) { int s = 0;\n${objs.map((_, i) => `  s += m${i}(${i});`).join('\n')}\n  printf("%d\\n", s); return 0; }\n`);
  objs.push('main.o');
  fs.writeFileSync(
    path.join(dir, 'Makefile'),
    `CC = gcc\nCCWRAP =\nOBJS = ${objs.join(' ')}\n\napp: $(OBJS)\n\tgcc -o $@ $(OBJS)\n\n` +
      `%.o: %.c\n\t$(CCWRAP) $(CC) -O1 -Iinclude -c -MD -MF $*.d $< -o $@\n\n-include $(OBJS:.o=.d)\n\n` +
      'clean:\n\trm -f app *.o *.d\n.PHONY: clean\n',
  );
}

function build(dir, vars, env) {
  run('make', ['-s', '-C', dir, 'clean'], { env });
  const t0 = performance.now();
  run('make', ['-s', '-j1', '-C', dir, ...vars], { env });
  const ms = performance.now() - t0;
  if (run(path.join(dir, 'app'), []).stdout.trim() === '') throw new Error('the built app printed nothing');
  return ms;
}

export async function measureMake() {
  const runs = QUICK ? 1 : 5;
  const ccDir = scratch('make-ccache');
  generateProject(ccDir);
  const ccEnv = { ...cliEnv(), CCACHE_DIR: scratch('ccache-dir'), CCACHE_DIRECT: '1' };
  const viaCcache = ['CC=ccache gcc'];
  try {
    build(ccDir, viaCcache, ccEnv); // cold: fills ccache
  } catch (e) {
    return [row({ id: 'make', what: 'warm rebuild of a C Make project through `dircache run`', value: 'not measured', note: `ccache side failed: ${e.message.split('\n')[0]}` })];
  }
  const plain = build(ccDir, [], ccEnv);
  const what = `warm rebuild of a ${FILES + 1}-file C Make project through \`dircache run\` (all hits)`;
  const help = run(process.execPath, [BIN, 'run', '--help'], { env: cliEnv() }, [0, 1, 2, 3]);
  if (!/--deps-file/.test(help.stdout)) return [row({ id: 'make', what, value: 'not measured', note: 'not measured: dircache run missing' })];

  const dcDir = scratch('make-dircache');
  generateProject(dcDir);
  const root = newCache('make-cache');
  const opts = `-q --cache ${root} --job $@ --target $@ --target $*.d --deps-file $*.d --`;
  const env = cliEnv({ DIRCACHE_SERVE_DIR: scratch('make-serve') });
  const viaRun = [`CCWRAP=${process.execPath} ${BIN} run ${opts}`];
  const viaFrontEnd = [`CCWRAP=${BIN}-run ${opts}`];
  build(dcDir, viaRun, env); // cold: every job runs and uploads
  build(dcDir, viaFrontEnd, env); // starts the server; its first job goes through dircache run
  // interleaved, so that the machine's load in any stretch of the run weighs on all three alike;
  // the two compared builds each come right after a build of the other project, never their own
  const times = { ccache: [], run: [], frontEnd: [] };
  for (let i = 0; i < runs; i++) {
    times.run.push(build(dcDir, viaRun, env));
    times.ccache.push(build(ccDir, viaCcache, ccEnv));
    times.frontEnd.push(build(dcDir, viaFrontEnd, env));
  }
  run(process.execPath, [BIN, 'serve', '--stop', '--dir', env.DIRCACHE_SERVE_DIR], { env });
  const [ours, perProcess, ccache] = [median(times.frontEnd), median(times.run), median(times.ccache)];
  return [row({
    id: 'make', what, value: fmtMs(ours), baseline: `ccache (direct mode): ${fmtMs(ccache)}`, ratio: ours / ccache, goal: '<= 2x', pass: ours / ccache <= 2,
    note: `through bin/dircache-run (the front end of \`dircache run\`: hits answered by the user's \`dircache serve\`); ` +
      `through \`dircache run\` itself, one Node process per job: ${fmtMs(perProcess)} (${(perProcess / ccache).toFixed(2)}x); ` +
      `no cache at all: ${fmtMs(plain)}; link step not cached in either; medians of ${runs} rounds, each building through \`dircache run\`, then with ccache, then through the front end`,
  })];
}
