// node:v8 in the CLI bundle, loaded at its first use: its ES module facade loads worker_threads and
// heap utilities at start (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:v8");
export const serialize = (...a) => m().serialize(...a);
export const deserialize = (...a) => m().deserialize(...a);
