// Builds the softphone into dist/ (committed, embedded by embed.go).
//
//   node build.mjs            bundle src/main.js → dist/softphone.js (+ .map), copy
//                             src/index.html and src/softphone.css
//   node build.mjs --check    build into a temp dir and fail if dist/ differs
//
// The build is deterministic: the same sources and lockfile give identical bytes.
import { build } from "esbuild";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const copied = ["index.html", "softphone.css"];

async function buildInto(out) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/main.js"],
    // Always laid out as dist/ (so source map paths never depend on `out`), written below.
    outfile: join(dist, "softphone.js"),
    write: false,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["chrome110", "firefox115", "safari16"],
    minify: true,
    sourcemap: "linked",
    // Sources in the map are relative to the output; keep them so, never absolute.
    sourceRoot: "",
    legalComments: "none",
    charset: "utf8",
    logLevel: "warning",
    metafile: false,
  });
  if (result.errors.length) throw new Error("esbuild failed");
  for (const f of result.outputFiles) await writeFile(join(out, basename(f.path)), f.contents);
  for (const f of copied) await copyFile(join(root, "src", f), join(out, f));
}

async function listing(dir) {
  return (await readdir(dir)).sort();
}

if (process.argv.includes("--check")) {
  const tmp = await mkdtemp(join(tmpdir(), "hubline-web-"));
  try {
    await buildInto(tmp);
    const want = await listing(tmp);
    const have = await listing(dist).catch(() => []);
    const problems = [];
    for (const f of new Set([...want, ...have])) {
      if (!want.includes(f)) problems.push(`dist/${f}: not produced by the build (stale file)`);
      else if (!have.includes(f)) problems.push(`dist/${f}: missing`);
      else if (!(await readFile(join(tmp, f))).equals(await readFile(join(dist, f))))
        problems.push(`dist/${f}: differs from a fresh build`);
    }
    if (problems.length) {
      console.error(problems.join("\n"));
      console.error("dist/ is out of date: run `npm --prefix web run build` and commit web/dist.");
      process.exitCode = 1;
    } else {
      console.log(`dist/ is up to date (${want.length} files)`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
} else {
  await buildInto(dist);
  console.log(`built ${(await listing(dist)).map((f) => "dist/" + f).join(", ")}`);
}
