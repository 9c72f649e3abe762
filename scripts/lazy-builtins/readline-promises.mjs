// node:readline/promises in the CLI bundle, loaded at its first use (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:readline/promises");
export const createInterface = (...a) => m().createInterface(...a);
