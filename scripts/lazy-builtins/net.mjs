// node:net in the CLI bundle, loaded at its first use (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:net");
export const createConnection = (...a) => m().createConnection(...a);
export const createServer = (...a) => m().createServer(...a);
