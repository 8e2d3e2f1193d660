// Builds the two pages under web/ (both committed, both embedded with go:embed):
//
//   the softphone          src/main.js          → dist/softphone.js (+ .map), index.html, softphone.css
//   the host simulator     hostsim/src/main.js  → hostsim/dist/hostsim.js (+ .map), index.html, hostsim.css
//                          (development only: the gateway mounts it in development mode)
//
//   node build.mjs            build both into their dist/ directories
//   node build.mjs --check    build into a temp dir and fail if either dist/ differs
//
// The build is deterministic: the same sources and lockfile give identical bytes.
import { build } from "esbuild";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));

const targets = [
  { name: "softphone", src: "src", entry: "src/main.js", dist: "dist", out: "softphone.js", copied: ["index.html", "softphone.css"] },
  {
    name: "host simulator",
    src: "hostsim/src",
    entry: "hostsim/src/main.js",
    dist: "hostsim/dist",
    out: "hostsim.js",
    copied: ["index.html", "hostsim.css"],
  },
];

async function buildInto(t, out) {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [t.entry],
    // Always laid out as <dist>/ (so source map paths never depend on `out`), written below.
    outfile: join(root, t.dist, t.out),
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
  if (result.errors.length) throw new Error(`esbuild failed (${t.name})`);
  for (const f of result.outputFiles) await writeFile(join(out, basename(f.path)), f.contents);
  for (const f of t.copied) await copyFile(join(root, t.src, f), join(out, f));
}

async function listing(dir) {
  return (await readdir(dir)).sort();
}

if (process.argv.includes("--check")) {
  const tmp = await mkdtemp(join(tmpdir(), "hubline-web-"));
  const problems = [];
  let files = 0;
  try {
    for (const [i, t] of targets.entries()) {
      const built = join(tmp, String(i));
      const dist = join(root, t.dist);
      await buildInto(t, built);
      const want = await listing(built);
      const have = await listing(dist).catch(() => []);
      files += want.length;
      for (const f of new Set([...want, ...have])) {
        const name = `${relative(root, dist)}/${f}`;
        if (!want.includes(f)) problems.push(`${name}: not produced by the build (stale file)`);
        else if (!have.includes(f)) problems.push(`${name}: missing`);
        else if (!(await readFile(join(built, f))).equals(await readFile(join(dist, f))))
          problems.push(`${name}: differs from a fresh build`);
      }
    }
    if (problems.length) {
      console.error(problems.join("\n"));
      console.error("web/dist or web/hostsim/dist is out of date: run `npm --prefix web run build` and commit both.");
      process.exitCode = 1;
    } else {
      console.log(`dist/ and hostsim/dist/ are up to date (${files} files)`);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
} else {
  for (const t of targets) {
    const dist = join(root, t.dist);
    await buildInto(t, dist);
    console.log(`built ${(await listing(dist)).map((f) => `${t.dist}/${f}`).join(", ")}`);
  }
}
