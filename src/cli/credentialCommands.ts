// `certgate credential …` (every type) and `certgate apikey …` (the same, for `rest`).
import { Option, type Command } from 'commander';
import type { NewCredentialInput } from '../auth/credentialService.js';
import { createdCredentialView, credentialState, credentialView } from '../auth/credentialView.js';
import { parsePermission } from '../auth/permissions.js';
import { AppError } from '../core/errors.js';
import { CREDENTIAL_SCOPES, type CredentialRecord, type CredentialScope, type CredentialType, type Permission } from '../core/types.js';
import type { Runtime } from '../runtime.js';
import { CLI_CONTEXT, collect, findCa, intArg, jsonOption, print, table, type CliKit } from './kit.js';

interface CreateOptions {
  type: CredentialType;
  product: string[];
  name?: string;
  ownerUser?: string;
  ownerGroup?: string;
  expiresInDays?: number;
  allowIp: string[];
  permission: string[];
  admin?: boolean;
  scope: CredentialScope;
  json?: boolean;
}

async function permissionsOf(rt: Runtime, texts: string[]): Promise<Permission[]> {
  return Promise.all(
    texts.map(async (text) => {
      const perm = parsePermission(text);
      return perm.ca === '*' ? perm : { ...perm, ca: (await findCa(rt, perm.ca)).id };
    }),
  );
}

const SECRET_NAMES: Readonly<Record<CredentialType, string>> = {
  rest: 'API key',
  acme: 'EAB HMAC key',
  est: 'password',
  scep: 'challenge password',
  cmp: 'shared secret',
};

function printCreated(rt: Runtime, json: boolean, created: Awaited<ReturnType<Runtime['credentials']['create']>>, verb: string): void {
  const { credential: c, secret } = created;
  print(json, createdCredentialView(created), () =>
    [
      `${verb} ${c.type} credential ${c.id} (${c.name})`,
      ...(c.type === 'acme' ? [`  EAB key id: ${c.id}`] : c.type === 'est' ? [`  username:   ${c.name}`] : c.type === 'cmp' ? [`  reference:  ${c.name}`] : []),
      `  ${SECRET_NAMES[c.type] ?? 'secret'}: ${secret}`,
      `  (shown once; ${rt.credentials.storageOf(c.type) === 'sealed' ? 'stored encrypted under the master key' : 'only its hash is stored'})`,
    ].join('\n'),
  );
}

function printList(json: boolean, list: CredentialRecord[]): void {
  print(json, list.map((c) => credentialView(c)), () =>
    table(
      ['id', 'type', 'status', 'name', 'products', 'uses', 'permissions'],
      list.map((c) => [
        c.id,
        c.type,
        credentialState(c),
        c.name,
        c.products === '*' ? 'all' : c.products.join(','),
        c.useCount,
        c.type === 'rest' ? [...(c.admin ? ['admin'] : []), ...c.permissions.map((p) => `${p.actions.join(',')}:${p.ca}`)].join(' ') : '',
      ]),
    ),
  );
}

const SCOPE_OPTION = () =>
  new Option('--scope <scope>', 'own: reads and acts only on the certificates and requests it requested itself; product: on everything of its products')
    .choices(CREDENTIAL_SCOPES)
    .default('product');

export function registerCredentialCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const create = (opts: CreateOptions) =>
    withRuntime(async (rt) => {
      const input: NewCredentialInput = {
        type: opts.type,
        products: opts.product.includes('*') ? '*' : opts.product,
        ...(opts.name ? { name: opts.name } : {}),
        ownerUser: opts.ownerUser ?? null,
        ownerGroup: opts.ownerGroup ?? null,
        expiresAt: opts.expiresInDays === undefined ? null : new Date(Date.now() + opts.expiresInDays * 86_400_000),
        allowIps: opts.allowIp,
        permissions: await permissionsOf(rt, opts.permission),
        admin: !!opts.admin,
        scope: opts.scope,
      };
      printCreated(rt, !!opts.json, await rt.credentials.create(input, CLI_CONTEXT), 'created');
    });
  const list = (opts: { type?: CredentialType; status: 'active' | 'revoked' | 'expired' | 'all'; json?: boolean }) =>
    withRuntime(async (rt) => {
      if (opts.type !== undefined && !rt.credentials.types.includes(opts.type)) {
        throw new AppError('bad_request', `--type: unknown credential type ${JSON.stringify(opts.type)}; known: ${rt.credentials.types.join(', ')}`);
      }
      const { credentials } = await rt.credentials.list({ ...(opts.type ? { type: opts.type } : {}), status: opts.status }, { limit: 100_000, offset: 0 });
      printList(!!opts.json, credentials);
    });
  const revoke = (id: string, opts: { json?: boolean }) =>
    withRuntime(async (rt) => {
      const c = await rt.credentials.revoke(id, CLI_CONTEXT);
      print(!!opts.json, credentialView(c), () => `revoked ${c.type} credential ${c.id} (${c.name}); it fails on its next use`);
    });

  const credential = program.command('credential').description('credentials of every protocol: rest (API keys), acme (EAB), est (Basic), scep (challenge)');
  credential
    .command('create')
    .description('create a credential and print its secret, once')
    .addOption(new Option('--type <type>', 'what it authenticates: a kind a protocol registers (rest, acme, est, scep)').makeOptionMandatory())
    .option('--product <id or name>', 'a product it may issue under (repeatable; "*" for all)', collect, [])
    .option('--name <name>', 'its name (for est: the Basic username)')
    .option('--owner-user <user>', 'who it belongs to')
    .option('--owner-group <group>', 'which team it belongs to')
    .option('--expires-in-days <n>', 'stops working after this many days', intArg(1, 36_500))
    .option('--allow-ip <cidr>', 'only from this address or CIDR block (repeatable; IPv4 or IPv6)', collect, [])
    .option('--permission <perm>', 'rest: e.g. "issue,read:*" or "read:<ca>" (repeatable; default: read,issue on its products\' CAs). Actions: read, issue, revoke, approve, exportKeys (PKCS#12 of escrowed keys of certificates it requested), exportAnyKeys (of any certificate of its products)', collect, [])
    .option('--admin', 'rest: may manage CAs, products, credentials, approvals and read the audit trail')
    .addOption(SCOPE_OPTION())
    .addOption(jsonOption())
    .action(async (opts: CreateOptions) => {
      if (opts.product.length === 0 && !(opts.type === 'rest' && opts.admin)) {
        throw new AppError('bad_request', '--product: name at least one product it may issue under (repeatable), or "*" for all');
      }
      await create(opts.product.length === 0 ? { ...opts, product: ['*'] } : opts);
    });
  credential
    .command('list')
    .description('credentials of every type (secrets are never shown again)')
    .addOption(new Option('--type <type>', 'only this type'))
    .addOption(new Option('--status <status>', 'active: neither revoked nor expired').choices(['active', 'revoked', 'expired', 'all']).default('all'))
    .addOption(jsonOption())
    .action(list);
  credential
    .command('rotate <id>')
    .description('a new secret, printed once; the old one stops after --grace-seconds')
    .option('--grace-seconds <n>', 'how long the old secret keeps working', intArg(0, 30 * 86_400), 0)
    .addOption(jsonOption())
    .action((id: string, opts: { graceSeconds: number; json?: boolean }) =>
      withRuntime(async (rt) => printCreated(rt, !!opts.json, await rt.credentials.rotate(id, opts.graceSeconds, CLI_CONTEXT), 'rotated')),
    );
  credential.command('revoke <id>').description('stop a credential now, in every process').addOption(jsonOption()).action(revoke);

  // The REST API keys of before: the same as credentials of type rest.
  const apikey = program.command('apikey').description('REST API keys (the same as `credential … --type rest`)');
  apikey
    .command('create')
    .description('create a REST API key and print it, once')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--permission <perm>', 'e.g. "issue,read:*" or "read:<ca-id>" (repeatable); actions read, issue, revoke, approve, exportKeys, exportAnyKeys', collect, [])
    .addOption(SCOPE_OPTION())
    .option('--product <id or name>', 'a product it may issue under (repeatable; default: all)', collect, [])
    .option('--admin', 'may manage CAs, products, credentials and approvals')
    .option('--expires-in-days <n>', 'stops working after this many days', intArg(1, 36_500))
    .option('--allow-ip <cidr>', 'only from this address or CIDR block (repeatable)', collect, [])
    .addOption(jsonOption())
    .action(async (opts: Omit<CreateOptions, 'type'>) => {
      if (opts.permission.length === 0 && !opts.admin) {
        throw new AppError('bad_request', 'an API key needs --permission "<actions>:<CA id, name or *>" (repeatable, e.g. --permission "issue,read:*") or --admin; without either it could do nothing');
      }
      await create({ ...opts, type: 'rest', product: opts.product.length ? opts.product : ['*'] });
    });
  apikey
    .command('list')
    .description('REST API keys')
    .addOption(jsonOption())
    .action((opts: { json?: boolean }) => list({ type: 'rest', status: 'all', ...opts }));
  apikey.command('revoke <id>').description('stop an API key now, in every process').addOption(jsonOption()).action(revoke);
}
