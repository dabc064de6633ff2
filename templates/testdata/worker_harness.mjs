// Exercises a template worker's fetch handler with a fake env. Usage:
//   node worker_harness.mjs <project dir written by init> <template>
// Runs the checks every template must pass (methods, key, rate limit, gateway, body cap, model
// errors; consumers, /.well-known/flareform and usage from checks/consumers.mjs) and the
// template's own checks from checks/<template>.mjs. Prints one line per failed check and exits
// 1 if any failed.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { commonChecks } from "./checks/common.mjs";
import { consumerChecks } from "./checks/consumers.mjs";

const [projectDir, template] = process.argv.slice(2);
const importFrom = (rel) => import(pathToFileURL(join(projectDir, rel)).href);
const worker = (await importFrom("src/worker.js")).default;
const lib = { ai: await importFrom("src/lib/ai.js"), auth: await importFrom("src/lib/auth.js") };
const own = await import(`./checks/${template}.mjs`);

const checks = { ...commonChecks(worker, own.config, lib), ...consumerChecks(worker, own.config, lib), ...own.checks(worker, lib) };
let failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}
console.log(`${Object.keys(checks).length - failed}/${Object.keys(checks).length} checks passed`);
process.exit(failed ? 1 : 0);
