// Where the installed package's own files are: the native build (shim, runner, apply, helpers,
// the procwatch addon) and the shell init scripts. The one place that knows the layout, so a
// module anywhere under dist/ asks here instead of counting "..".
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: the checkout, or where npm installed it (dist/paths/native.js is two below). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** native/build: shit-run, shit-apply, shit-watch, libshit.so, procwatch.node, lock.node. */
export const nativeDir = join(packageRoot, "native", "build");

/** A file of the native build, by name. */
export const nativeFile = (name: string): string => join(nativeDir, name);
