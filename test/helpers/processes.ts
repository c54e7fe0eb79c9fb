// The processes a test started, seen from outside (Linux /proc): what is still running in their
// process groups, and which of them holds a connection.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface Proc {
  pid: number;
  pgid: number;
  cmdline: string;
}

/** Every process of these process groups (Linux /proc), zombies included: they are not gone yet. */
export function processesIn(pgids: number[]): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command name, which may hold spaces and parentheses: state, ppid, pgrp.
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgids.includes(pgid)) found.push({ pid: Number(entry), pgid, cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ') });
    } catch {
      // The process ended while being read.
    }
  }
  return found;
}

/**
 * Which of these processes holds the client end of a loopback TCP connection to `serverPort`
 * from `clientPort` (Linux /proc): a receiver asks while the request is open, to tell which
 * process sent it.
 */
export function socketOwner(clientPort: number, serverPort: number, pids: readonly number[]): number | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex(clientPort)}`) && f[2]?.endsWith(`:${hex(serverPort)}`)) inode = f[9];
    }
    if (inode) break;
  }
  if (!inode) return undefined;
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
        } catch {
          // Closed while being read.
        }
      }
    } catch {
      // The process is gone.
    }
  }
  return undefined;
}
