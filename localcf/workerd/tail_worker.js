// The tail worker localcf adds to every worker it runs (workerd config `tails`). workerd hands
// it the runtime's own trace items (outcome, console logs, exceptions, the request) once each
// invocation ends; it turns each into the event shape of Cloudflare's tail sockets (trace-v1)
// and posts the batch to localcf's binding backend, which feeds the open tail sessions.
// `config` (JSON set by localcf) names the account, script and version.

function exceptionOf(x) {
  const out = { name: x.name, message: x.message, timestamp: x.timestamp };
  if (x.stack !== undefined) out.stack = x.stack;
  return out;
}

function eventOf(ev) {
  if (!ev) return null;
  if (ev.request) {
    const r = ev.request;
    // headers: workerd's redacted view (values of auth/key/secret/token/jwt/cookie headers
    // read "REDACTED"), as Cloudflare's tail shows them.
    return { request: { url: r.url, method: r.method, headers: r.headers, cf: r.cf ?? {} } };
  }
  if (ev.cron !== undefined) return { cron: ev.cron, scheduledTime: ev.scheduledTime };
  if (ev.queue !== undefined) return { queue: ev.queue, batchSize: ev.batchSize };
  return null;
}

function traceEvent(item, config) {
  const out = { outcome: item.outcome, scriptName: config.script };
  if (item.entrypoint !== undefined && item.entrypoint !== null) out.entrypoint = item.entrypoint;
  out.exceptions = (item.exceptions || []).map(exceptionOf);
  out.logs = (item.logs || []).map((l) => ({ message: l.message, level: l.level, timestamp: l.timestamp }));
  out.eventTimestamp = item.eventTimestamp;
  out.event = eventOf(item.event);
  return out;
}

export default {
  async tail(items, env) {
    const events = items.map((item) => traceEvent(item, env.config));
    try {
      await env.backend.fetch("http://ai/tail-events", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ config: env.config, events }),
      });
    } catch {
      // localcf is stopping: nobody is left to watch these events.
    }
  },
};
