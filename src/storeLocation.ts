// Where a deployment's state lives, as an operator may be shown it: the SQLite file in the data
// directory, or the PostgreSQL database named by DATABASE_URL without its password.
import { join } from 'node:path';
import type { Config } from './config.js';

export interface StoreLocation {
  store: 'sqlite' | 'postgres';
  /** The SQLite file, or the PostgreSQL URL with any password left out. */
  database: string;
}

export const sqliteFileOf = (config: Pick<Config, 'dataDir'>): string => join(config.dataDir, 'certgate.db');

export function storeLocationOf(config: Pick<Config, 'dataDir' | 'databaseUrl'>): StoreLocation {
  if (!config.databaseUrl) return { store: 'sqlite', database: sqliteFileOf(config) };
  return { store: 'postgres', database: withoutPassword(config.databaseUrl) };
}

/** The URL without the password, whether in the user-info part or (as libpq allows) a `password` parameter. */
export function withoutPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.password = '';
  url.searchParams.delete('password');
  return url.toString();
}
