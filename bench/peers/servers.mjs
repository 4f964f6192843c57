// The live-sync peers of bench/peers.py, each as its package documents it, on 127.0.0.1 and a
// free port (printed as "serving http://127.0.0.1:PORT" on stderr, like `statesync serve`).
//
//   node servers.mjs y-websocket DIR    @y/websocket-server's server (the one `npx y-websocket`
//                                       runs) with YPERSISTENCE=DIR: every update goes to
//                                       LevelDB (y-leveldb), after it is broadcast, unsynced
//   node servers.mjs hocuspocus FILE    @hocuspocus/server with @hocuspocus/extension-sqlite:
//                                       the whole document is stored in SQLite after a 2 s
//                                       debounce (at most 10 s), the defaults
import http from "node:http";

const [kind, place] = process.argv.slice(2);
const HOST = "127.0.0.1";

function ready(port) {
  console.error(`${kind} serving http://${HOST}:${port}`);
}

if (kind === "y-websocket") {
  console.info = console.error; // its "Persisting documents to ..." goes with the server's log
  process.env.YPERSISTENCE = place; // read when the module loads, as in `npx y-websocket`
  const { WebSocketServer } = await import("ws");
  const { setupWSConnection } = await import("@y/websocket-server/utils");
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "Content-Type": "text/plain" });
    response.end("okay");
  });
  wss.on("connection", setupWSConnection);
  server.on("upgrade", (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
  });
  server.listen(0, HOST, () => ready(server.address().port));
  process.on("SIGINT", () => process.exit(0));
} else if (kind === "hocuspocus") {
  const { Server } = await import("@hocuspocus/server");
  const { SQLite } = await import("@hocuspocus/extension-sqlite");
  const server = new Server({
    address: HOST,
    port: 0,
    quiet: true,
    extensions: [new SQLite({ database: place })],
  });
  await server.listen();
  ready(server.address.port);
} else {
  console.error("usage: node servers.mjs y-websocket DIR | hocuspocus FILE");
  process.exit(2);
}
