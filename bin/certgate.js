#!/usr/bin/env node
// Runs the CLI from source through tsx so `npx certgate` works without a build step.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// tsx is resolved from this package, not from the working directory: certgate runs from any folder
// (a service's data directory, a runbook's working folder), not only from the checkout.
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, join(root, 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
// The server runs in the child. A signal meant for certgate (a service manager's SIGTERM, kill
// <pid>, Ctrl-C) reaches this process: hand it on, and stay until the child has stopped, so that
// whoever waits for this process waits for the server's graceful stop.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  process.stderr.write(`certgate: could not start ${process.execPath}: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so the caller sees what the child saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
