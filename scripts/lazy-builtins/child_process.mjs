// node:child_process in the CLI bundle, loaded at its first use (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:child_process");
export const spawn = (...a) => m().spawn(...a);
export const spawnSync = (...a) => m().spawnSync(...a);
