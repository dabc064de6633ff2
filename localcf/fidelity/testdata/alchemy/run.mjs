// One Alchemy run against the local Cloudflare, driven by TestAlchemyLifecycle. The API base
// URL, token and account come from CLOUDFLARE_BASE_URL, CLOUDFLARE_API_TOKEN and
// CLOUDFLARE_ACCOUNT_ID; the state (in ./.alchemy) is encrypted with ALCHEMY_PASSWORD.
//   PHASE=up|destroy  WORKER_NAME=...  WORKER_ENTRY=./src/worker.js  [WORKER_API_KEY=...]
// On "up" it prints one line: {"url": "<the worker's workers.dev URL>"}.
import alchemy from "alchemy";
import { Ai, Worker } from "alchemy/cloudflare";

const phase = process.env.PHASE;
const app = await alchemy("flareform-fidelity", { phase, stage: "ci", quiet: true });

const bindings = { AI: Ai() };
if (process.env.WORKER_API_KEY) {
  bindings.API_KEY = alchemy.secret(process.env.WORKER_API_KEY);
}
const worker = await Worker("probe", {
  name: process.env.WORKER_NAME,
  entrypoint: process.env.WORKER_ENTRY,
  compatibilityDate: "2025-06-01",
  url: true,
  bindings,
});
await app.finalize();
if (phase !== "destroy") {
  console.log(JSON.stringify({ url: worker.url }));
}
