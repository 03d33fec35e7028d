// The Node yardstick (issue 17): a bare Node `http` server that writes each line of a session's
// output to each client as its own SSE event, the stack of the design SessionDock started from
// (../shared/reference/sse-implementation-guide.md), with none of its code.
//
//   node bench/node_baseline.js --port 0 [--exit-on-stdin-eof]
//
// POST /sessions {"argv": [...]} spawns a process on pipes; its stdout is cut into lines, and
// each line, as the JSON payload SessionDock sends, goes to every connected client at once with
// res.write (no queue of ours: Node buffers what a socket does not take, without bound).
// GET /session/{id}/events streams them. No store, no coalescing, no auth. Like the other
// servers, it prints one ready JSON line on stdout.
"use strict";

const http = require("http");
const { spawn } = require("child_process");

const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1] || 0);
const sessions = new Map();

function createSession(body, res) {
  const argv = body.argv;
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  const session = { id: `session-${sessions.size + 1}`, child, clients: new Set(), seq: 0 };
  sessions.set(session.id, session);
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) {
      session.seq += 1;
      const data = JSON.stringify({
        sessionId: session.id,
        type: "stdout",
        content: line + "\n",
        timestamp: Date.now(),
      });
      const frame = `id: ${session.seq}\nevent: output\ndata: ${data}\n\n`;
      for (const client of session.clients) client.write(frame);
    }
  });
  res.writeHead(201, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ id: session.id, pid: child.pid }));
}

function sessionEvents(session, req, res) {
  res.writeHead(200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    Connection: "keep-alive",
  });
  res.write(`event: connected\ndata: ${JSON.stringify({ sessionId: session.id })}\n\n`);
  session.clients.add(res);
  req.on("close", () => session.clients.delete(res));
}

const server = http.createServer((req, res) => {
  const events = req.url.match(/^\/session\/([^/]+)\/events/);
  if (req.method === "POST" && req.url === "/sessions") {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => createSession(JSON.parse(body), res));
  } else if (req.method === "GET" && events && sessions.has(events[1])) {
    sessionEvents(sessions.get(events[1]), req, res);
  } else {
    res.writeHead(404).end();
  }
});
server.keepAliveTimeout = 0;

function stop() {
  for (const session of sessions.values()) session.child.kill("SIGKILL");
  process.exit(0);
}

server.listen(port, "127.0.0.1", () => {
  const bound = server.address().port;
  const ready = { event: "ready", port: bound, url: `http://127.0.0.1:${bound}`, pid: process.pid };
  process.stdout.write(JSON.stringify(ready) + "\n");
});
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (args.includes("--exit-on-stdin-eof")) {
  process.stdin.on("end", stop);
  process.stdin.resume();
}
