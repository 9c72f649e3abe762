// node:zlib in the CLI bundle, loaded at its first use (scripts/build.sh says why)
const m = () => process.getBuiltinModule("node:zlib");
export const zstdCompressSync = (...a) => m().zstdCompressSync(...a);
export const zstdDecompressSync = (...a) => m().zstdDecompressSync(...a);
export const constants = new Proxy({}, { get: (_, k) => m().constants[k] });
