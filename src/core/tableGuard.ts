// A protocol reaches the database only through a handle on the tables its own migrations made.
// The handle is the store's Kysely with a plugin that reads every statement before it is compiled
// and refuses any that names another table (the credentials, the certificates, another protocol's),
// so a front-end cannot write around the core's services, whatever its code or its bugs.
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type Compilable,
  type CompiledQuery,
  type KyselyPlugin,
  type Migration,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

export class TableGuardError extends Error {
  override readonly name = 'TableGuardError';
}

/**
 * The tables `migrations` create, found by running them against a database that does nothing and
 * noting each CREATE TABLE: one source of truth, the migrations themselves.
 */
export async function tablesCreatedBy(migrations: Readonly<Record<string, Migration>>): Promise<ReadonlySet<string>> {
  const created = new Set<string>();
  const recorder: KyselyPlugin = {
    transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
      if (node.kind === 'CreateTableNode') created.add(node.table.table.identifier.name);
      return node;
    },
    transformResult: ({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => Promise.resolve(result),
  };
  const db = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (d) => new SqliteIntrospector(d),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
    plugins: [recorder],
  });
  try {
    // Migrations run in name order (Kysely's rule); the order does not change the set, but a
    // migration may depend on an earlier one's tables being known.
    for (const name of Object.keys(migrations).sort()) await (migrations[name] as Migration).up(db);
  } finally {
    await db.destroy();
  }
  return created;
}

/** The guard of one protocol: the tables its own migrations make (none, when it has none). */
export async function guardOf(module: { readonly name: string; readonly migrations?: Readonly<Record<string, Migration>> }): Promise<TableGuard> {
  return new TableGuard(module.name, module.migrations ? await tablesCreatedBy(module.migrations) : new Set());
}

// Raw SQL cannot be read for its tables; what names a table in it is refused.
const RAW_TABLE_CLAUSE = /\b(from|join|into|update|table)\b/i;

function isNode(value: unknown): value is OperationNode {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}

/** Every node of the tree, depth first (the trees are small: a statement's). */
function* nodesOf(root: OperationNode): Generator<OperationNode> {
  const stack: unknown[] = [root];
  while (stack.length) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const v of value) stack.push(v);
    } else if (isNode(value)) {
      yield value;
      for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) stack.push(v);
    }
  }
}

/** Checks statements of one owner against its tables. */
export class TableGuard implements KyselyPlugin {
  // Nodes are immutable: a statement kept and run again (a prepared read) is checked once.
  private readonly checked = new WeakSet<OperationNode>();

  constructor(
    readonly owner: string,
    private readonly allowed: ReadonlySet<string>,
  ) {}

  /** Throws TableGuardError when the statement names a table that is not the owner's. */
  check(root: OperationNode): void {
    if (this.checked.has(root)) return;
    const nodes = [...nodesOf(root)];
    // A WITH clause's names are the statement's own, not tables.
    const cteNames = new Set<string>();
    for (const n of nodes) {
      if (n.kind === 'CommonTableExpressionNameNode') cteNames.add((n as unknown as { table: { table: { identifier: { name: string } } } }).table.table.identifier.name);
    }
    if (root.kind === 'RawNode') throw new TableGuardError(`${this.owner}: a raw SQL statement cannot be checked for the tables it touches; build it with the query builder`);
    for (const n of nodes) {
      if (n.kind === 'TableNode') {
        const { schema, identifier } = (n as unknown as { table: { schema?: { name: string }; identifier: { name: string } } }).table;
        if (schema) throw new TableGuardError(`${this.owner} may not name a schema (${schema.name}.${identifier.name})`);
        if (!this.allowed.has(identifier.name) && !cteNames.has(identifier.name)) {
          throw new TableGuardError(`${this.owner} may not touch the table ${JSON.stringify(identifier.name)}: only the tables its own migrations made`);
        }
      } else if (n.kind === 'RawNode') {
        const fragments = (n as unknown as { sqlFragments: readonly string[] }).sqlFragments;
        if (fragments.some((f) => RAW_TABLE_CLAUSE.test(f))) throw new TableGuardError(`${this.owner}: raw SQL that names a table cannot be checked; build it with the query builder`);
      }
    }
    this.checked.add(root);
  }

  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    this.check(node);
    return node;
  }

  transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(result);
  }
}

export interface GuardedTables<S> {
  readonly db: Kysely<S>;
  /** A statement for the store's writer, checked again in case it was built elsewhere. */
  checked<R>(statement: Compilable<R>): Compilable<R>;
}

/** The store's database as one owner may see it: its own tables, typed with its own schema. */
export function guardTables<S>(db: Kysely<unknown>, guard: TableGuard): GuardedTables<S> {
  return {
    db: db.withPlugin(guard) as unknown as Kysely<S>,
    checked<R>(statement: Compilable<R>): Compilable<R> {
      const compiled: CompiledQuery<R> = statement.compile();
      guard.check(compiled.query);
      return { compile: () => compiled };
    },
  };
}
