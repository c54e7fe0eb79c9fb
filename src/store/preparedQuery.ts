// Runs a Kysely-built query as a better-sqlite3 prepared statement: the query is built once with
// placeholder values, compiled once, and its SQL prepared once; each run binds the real values in
// the order Kysely put the placeholders. So the SQL is Kysely's, and there is no second copy of it.
import type BetterSqlite3 from 'better-sqlite3';
import type { Compilable } from 'kysely';

// A NUL byte never occurs in a value a caller means, so a parameter is a placeholder or a
// constant the builder wrote (a status, a 1 to add), never both.
const MARK = '\u0000certgate-placeholder:';

/**
 * Placeholders for a builder's arguments: each property read gives a marker, and `lists` gives
 * arrays of that many markers (for `in (…)`). Complete by construction: a builder cannot read an
 * argument that has no placeholder.
 */
export function placeholders<A extends object>(lists: { readonly [K in keyof A]?: number } = {}): A {
  return new Proxy({} as A, {
    get(_, key) {
      if (typeof key !== 'string') return undefined;
      const n = (lists as Record<string, number | undefined>)[key];
      return n === undefined ? MARK + key : Array.from({ length: n }, (_, i) => `${MARK}${key}.${i}`);
    },
  });
}

/** Placeholders for a whole row, one per column; bound from a row object with those keys. */
export function rowPlaceholders<R extends object>(columns: readonly (keyof R & string)[]): R {
  return Object.fromEntries(columns.map((c) => [c, MARK + c])) as R;
}

/** Every key of T, checked exhaustive by the compiler (a column added to T must be added here). */
export function columnsOf<T>(columns: Record<keyof T & string, true>): (keyof T & string)[] {
  return Object.keys(columns) as (keyof T & string)[];
}

type Slot = (args: Record<string, unknown>) => unknown;

export class PreparedQuery<Args extends object, Row = unknown> {
  private readonly statement: BetterSqlite3.Statement<unknown[], Row>;
  private readonly slots: Slot[];

  constructor(db: BetterSqlite3.Database, query: Compilable) {
    const compiled = query.compile();
    this.statement = db.prepare<unknown[], Row>(compiled.sql);
    this.slots = compiled.parameters.map(slotFor);
  }

  /** The first row (SELECT, or a write with RETURNING). */
  get(args: Args): Row | undefined {
    return this.statement.get(...this.bind(args));
  }

  run(args: Args): BetterSqlite3.RunResult {
    return this.statement.run(...this.bind(args));
  }

  private bind(args: Args): unknown[] {
    const values = new Array<unknown>(this.slots.length);
    for (let i = 0; i < values.length; i++) values[i] = (this.slots[i] as Slot)(args as Record<string, unknown>);
    return values;
  }
}

function slotFor(parameter: unknown): Slot {
  if (typeof parameter !== 'string' || !parameter.startsWith(MARK)) return () => parameter;
  const name = parameter.slice(MARK.length);
  const dot = name.indexOf('.');
  if (dot === -1) return (args) => defined(args[name], name);
  const list = name.slice(0, dot);
  const index = Number(name.slice(dot + 1));
  return (args) => defined((args[list] as readonly unknown[])[index], name);
}

// better-sqlite3 would bind undefined as NULL without a word; a missing argument is a bug.
function defined(value: unknown, name: string): unknown {
  if (value === undefined) throw new TypeError(`no value for query parameter ${name}`);
  return value;
}
