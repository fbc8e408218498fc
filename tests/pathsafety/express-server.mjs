// The Express upstream of the path-safety harness: `node express-server.mjs PORT ROOT`.
//
// Express's default router: case-insensitive, non-strict (a trailing `/` matches), routes
// matched on the request path as sent (percent-encodings are not decoded for matching).
// Behind the routes, express.static over the same files the other upstreams serve: `send`
// percent-decodes the path and resolves dot segments before it looks a file up.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import express from "express";

const [port, root] = process.argv.slice(2);
if (!port || !root) {
  console.error("usage: node express-server.mjs PORT ROOT");
  process.exit(2);
}

const file = (rel) => readFileSync(join(root, rel), "utf8");
const app = express();
const send = (rel) => (_req, res) => res.type("text/plain").send(file(rel));

app.get("/paid/report", send("paid/report"));
app.get("/api/v1/items", send("api/v1/items"));
app.get("/free/info", send("free/info"));
app.get(["/", "/index.html"], send("index.html"));
app.use(express.static(root, { dotfiles: "allow", redirect: false }));

app.listen(Number(port), "127.0.0.1", () => {
  console.log(`express upstream on 127.0.0.1:${port}`);
});
