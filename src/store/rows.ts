// The record made of the row a lookup found, or undefined when it found none: the one step every
// read by key ends with, on Kysely and on the SQLite hot path alike.

export function recordOf<R, T>(row: R | undefined, fromRow: (row: R) => T): T | undefined {
  return row === undefined ? undefined : fromRow(row);
}

/** recordOf the first row of a Kysely query. */
export async function firstRecord<R, T>(query: { executeTakeFirst(): Promise<R | undefined> }, fromRow: (row: R) => T): Promise<T | undefined> {
  return recordOf(await query.executeTakeFirst(), fromRow);
}
