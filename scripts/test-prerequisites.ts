/**
 * Makes sure the programs the test suite talks to are on this machine before `bun test` runs
 * (`npm test` calls it): `redis-server` (tests start their own on free ports) and Chromium (the
 * web console test drives it through playwright-core). Missing ones are installed from Debian's
 * packages when running as root with apt-get; otherwise one line says what to install, and the
 * command fails. PostgreSQL is optional: its tests skip with a message when no server answers.
 * @module
 */
import { existsSync } from "node:fs";

/** A program the suite needs and the Debian package that provides it. */
interface Need {
  what: string;
  present: () => boolean;
  pkg: string;
}

const onPath = (cmd: string) => Bun.which(cmd) !== null;
const chromium = process.env.DCSM_CHROMIUM ?? "/usr/bin/chromium";
const NEEDS: Need[] = [
  { what: "redis-server", present: () => onPath("redis-server"), pkg: "redis-server" },
  { what: `Chromium (${chromium}; DCSM_CHROMIUM overrides)`, present: () => existsSync(chromium), pkg: "chromium" },
];

const missing = NEEDS.filter((n) => !n.present());
if (missing.length > 0) {
  const pkgs = missing.map((n) => n.pkg);
  const root = process.getuid?.() === 0;
  if (root && onPath("apt-get")) {
    console.log(`installing test prerequisites from Debian packages: ${pkgs.join(", ")}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    for (const args of [
      ["apt-get", "update", "-qq"],
      ["apt-get", "install", "-y", "-qq", ...pkgs],
    ]) {
      const r = Bun.spawnSync(args, { env, stdout: "inherit", stderr: "inherit" });
      if (r.exitCode !== 0) {
        console.error(`\`${args.join(" ")}\` failed (exit ${r.exitCode})`);
        process.exit(1);
      }
    }
  }
  const still = NEEDS.filter((n) => !n.present());
  if (still.length > 0) {
    console.error(
      `the test suite needs ${still.map((n) => n.what).join(" and ")}: install the Debian package(s) ${still.map((n) => n.pkg).join(" ")} (e.g. sudo apt-get install ${still.map((n) => n.pkg).join(" ")})`,
    );
    process.exit(1);
  }
}
