// Stands in for `signal-exit` in the CLI bundles (src/bundle/bundle.mjs aliases it here).
// Its only user there is lockfile, whose exit hook src/lock.ts disarms: the real module (and the
// `assert` it loads, which sets up stderr) cost every CLI hit ~5 ms for a hook that does nothing.
// Signals then end the process as Node's defaults do, which is what signal-exit did after running
// the disarmed hook.
module.exports = () => () => {};
