// A receiving client in a process of its own, so a test can freeze it
// (SIGSTOP) and make it a slow consumer. Usage:
//   bun test/support/ws-child.ts <baseUrl> <token> <roomId> <expectedMessages>
// Prints JSON lines: {"type":"joined"} then {"type":"done", seqs, closeCodes}.
import { ChatClient } from "./ws-client.ts";

const [baseUrl, token, roomId, expected] = process.argv.slice(2) as [string, string, string, string];
const client = await ChatClient.connect(baseUrl, token);
client.autoResume([baseUrl]);
await client.join(roomId);
console.log(JSON.stringify({ type: "joined" }));
await client.until(() => client.messageSeqs(roomId).length >= Number(expected), 60_000);
console.log(JSON.stringify({ type: "done", seqs: client.messageSeqs(roomId), closeCodes: client.closeCodes }));
client.close();
process.exit(0);
