// Child processes and loopback plumbing shared by the harness.
//
// Every child is recorded when spawned and stopped by its PID in `stopAll` (SIGTERM, then
// SIGKILL after a grace period). `installCleanup` makes that happen on normal exit, on an
// uncaught error and on SIGINT/SIGTERM, so a failing scenario never leaves anvil or a server
// behind.

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import net from "node:net";

const children = new Set();

/**
 * Starts `command` with `args`, keeping the last lines of its output for error reports (and,
 * with `capture`, all of its stdout and stderr: `proc.stdout()`, `proc.stderr()`).
 * Resolves once the process is spawned; `proc.exited` resolves with its exit code.
 */
export function spawnTracked(name, command, args, { env = {}, cwd, capture = false } = {}) {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail = [];
  const keep = (chunk) => {
    for (const line of chunk.toString().split("\n")) {
      if (line.trim() === "") continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const captured = { stdout: [], stderr: [] };
  if (capture) {
    child.stdout.on("data", (chunk) => captured.stdout.push(chunk));
    child.stderr.on("data", (chunk) => captured.stderr.push(chunk));
  }
  const proc = {
    name,
    child,
    pid: child.pid,
    output: () => tail.join("\n"),
    stdout: () => Buffer.concat(captured.stdout).toString(),
    stderr: () => Buffer.concat(captured.stderr).toString(),
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal))),
    /** Like `exited`, but once its stdout and stderr are read to the end too. */
    closed: new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? signal))),
  };
  children.add(proc);
  proc.exited.then(() => children.delete(proc));
  return new Promise((resolve, reject) => {
    child.once("spawn", () => resolve(proc));
    child.once("error", (error) => {
      children.delete(proc);
      reject(new Error(`${name}: cannot start ${command}: ${error.message}`));
    });
  });
}

/** Stops one child by its PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(proc, graceMs = 3000) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  try {
    process.kill(proc.pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, graceMs);
  await proc.exited;
  clearTimeout(timer);
}

/** Stops every child still running, each by its PID. */
export async function stopAll() {
  await Promise.all([...children].map((proc) => stop(proc)));
}

/** Kills whatever is left synchronously (the `exit` event allows no waiting). */
function killAllNow() {
  for (const proc of children) {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

let installed = false;

/** Stops every child on exit, on an uncaught error and on SIGINT/SIGTERM. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      await stopAll();
      process.exit(130);
    });
  }
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; the caller binds it soon after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Waits until `url` answers HTTP at all (any status), or fails with the process's output if
 * `proc` exits first or `timeoutMs` passes.
 */
export async function waitForHttp(url, { proc, timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc?.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) {
      throw new Error(`${proc.name} exited before answering ${url}:\n${proc.output()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      const output = proc ? `\n${proc.name} said:\n${proc.output()}` : "";
      throw new Error(`${url} did not answer within ${timeoutMs} ms${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts an in-process HTTP server (an express app or a request handler) on 127.0.0.1:`port`. */
export function listen(handler, port = 0) {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
