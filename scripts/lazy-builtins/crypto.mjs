// node:crypto in the CLI bundle, loaded at its first use (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:crypto");
export const createHash = (...a) => m().createHash(...a);
export const randomBytes = (...a) => m().randomBytes(...a);
