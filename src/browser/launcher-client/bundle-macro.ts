// A Bun macro (imported `with { type: "macro" }`): it runs while Bun
// transpiles the importing file, and its string result is inlined there, so
// the compiled executable carries the bundle as a constant. Bun.build cannot
// be called inside a macro (the bundler would wait on itself), so it runs
// build.ts in a child Bun, as Bun's own error message advises.
export function launcherBundle(): string {
  const child = Bun.spawnSync([process.execPath, `${import.meta.dir}/build.ts`], { stdout: "pipe", stderr: "pipe" });
  if (child.exitCode !== 0) throw new Error(`the launcher bundle did not build:\n${child.stderr.toString()}`);
  return child.stdout.toString();
}
