// Rolling restart under load, through Caddy:
//   bun run bench:roll [--instances 3] [--senders 20] [--receivers 80] [--send-every 200] [--readers 8]
// Prints messages lost / doubled / out of order per receiver, HTTP requests failed, reconnects.
import { parseArgs } from "node:util";
import { startCluster } from "./cluster.ts";
import { rollUnderLoad } from "./roll-under-load.ts";
import { intFlag } from "./bench/flags.ts";

const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "3" },
    senders: { type: "string", default: "20" },
    receivers: { type: "string", default: "80" },
    "send-every": { type: "string", default: "200" },
    readers: { type: "string", default: "8" },
    margin: { type: "string", default: "3000" },
  },
});
const num = (name: keyof typeof values) => intFlag(name, values[name] as string | undefined);

const cluster = await startCluster({
  instances: num("instances"),
  env: { RATE_LIMIT_MULTIPLIER: "1000", LOG_LEVEL: "warn" },
  log: (line) => console.error(line),
});
try {
  const load = {
    senders: num("senders"),
    receivers: num("receivers"),
    sendEveryMs: num("send-every"),
    httpReaders: num("readers"),
    marginMs: num("margin"),
  };
  console.error(`[bench:roll] ${cluster.instances.length} instances behind Caddy; load ${JSON.stringify(load)}`);
  const r = await rollUnderLoad(cluster, load);
  const failedPct = r.http.total ? (100 * r.http.failed) / r.http.total : 0;
  console.log(`rolling restart of ${cluster.instances.length} instances: ${r.rollMs} ms`);
  console.log(`messages: ${r.messages} sent; per receiver lost ${r.lost}, doubled ${r.duplicated}, out of order ${r.outOfOrder}`);
  console.log(`websocket: ${r.reconnects} reconnects, close codes ${JSON.stringify(r.closeCodes)}`);
  console.log(`http: ${r.http.total} requests, ${r.http.failed} failed (${failedPct.toFixed(3)}%) ${JSON.stringify(r.http.failures)}`);
} finally {
  await cluster.stop();
}
