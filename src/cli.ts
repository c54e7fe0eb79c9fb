// The `certgate` command. Every command takes --json for machine-readable output.
import { Command, Option } from 'commander';
import { createCa } from './ca/createCa.js';
import { createUpstreamCa } from './ca/upstream/create.js';
import { upstreamCaOptions, type UpstreamCaCliOptions } from './cli/upstreamCaOptions.js';
import { addPkcs11Options, pkcs11ChoiceOf, type Pkcs11Flags } from './cli/pkcs11Options.js';
import { registerAuditCommands } from './cli/auditCommands.js';
import { registerOrganizationCommands } from './cli/organizationCommands.js';
import { registerCredentialCommands } from './cli/credentialCommands.js';
import { registerWebhookCommands } from './cli/webhookCommands.js';
import { registerDomainCommands } from './cli/domainCommands.js';
import { registerMasterKeyCommands } from './cli/masterKeyCommands.js';
import { collectCustomField } from './cli/customFieldOption.js';
import { CLI_CONTEXT, cliKit, collect, findCa, HELP, intArg, jsonOption, print, table } from './cli/kit.js';
import { registerReportCommands } from './cli/reportCommands.js';
import type { Config } from './config.js';
import { BACKEND_NAMES, capabilitiesView } from './core/caCapabilities.js';
import { AppError } from './core/errors.js';
import { createProduct } from './core/products.js';
import { parseRevocationReason } from './core/revocationService.js';
import type { ProtocolModule } from './core/protocol.js';
import { KEY_ALGORITHMS, type CertificateRecord, type KeyAlgorithm, type ProductTemplate } from './core/types.js';
import { initialize } from './init.js';
import { parseProductTemplate } from './policy/productSchema.js';
import { serve } from './serve.js';
import { storeLocationOf } from './storeLocation.js';
import type { Store } from './store/types.js';
import { packageVersion } from './version.js';

// The front-ends to serve, handed in by the entry point (main.ts): src/ never imports protocols/.
let protocols: readonly ProtocolModule[] = [];

const program = new Command('certgate')
  .description('Multi-protocol certificate enrollment gateway')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--config <file>', 'JSON config file (environment variables override it)')
  .configureHelp(HELP)
  .showHelpAfterError();

const { config, withRuntime } = cliKit(program, () => protocols);

const processesOption = (): Option =>
  new Option('--processes <n>', 'HTTP processes sharing the ports, e.g. one per core (needs REDIS_URL when more than 1)').argParser((v) => Number(v));
const processesOverride = (n: number | undefined): Partial<Config> => (n === undefined ? {} : { httpProcesses: n });

const keyAlgOption = (def: KeyAlgorithm): Option => new Option('--key-algorithm <alg>', 'key algorithm').choices(KEY_ALGORITHMS).default(def);

function printInit(json: boolean, result: Awaited<ReturnType<typeof initialize>>, config: Config): void {
  // With PostgreSQL nothing is written to the data directory: name the database (no password).
  const { store, database } = storeLocationOf(config);
  const where = store === 'postgres' ? `PostgreSQL database ${database}` : `SQLite in ${config.dataDir}`;
  print(
    json,
    {
      created: result.created,
      store,
      database,
      ...(store === 'sqlite' ? { data_dir: config.dataDir } : {}),
      root_ca_id: result.root?.id,
      issuing_ca_id: result.issuing?.id,
      product_id: result.product?.id,
      admin_api_key: result.adminToken,
    },
    () =>
      result.created
        ? [
            `initialized ${where}`,
            `  root CA:     ${result.root?.id} (${result.root?.subject})`,
            `  issuing CA:  ${result.issuing?.id} (${result.issuing?.subject})`,
            `  product:     ${result.product?.id} (default)`,
            `  admin API key (shown once, store it now): ${result.adminToken}`,
          ].join('\n')
        : `already initialized: ${where}`,
  );
}

program
  .command('init')
  .description('create the database, a root and an issuing CA, a default product and an admin API key')
  .addOption(keyAlgOption('ec-p256'))
  .addOption(jsonOption())
  .action(async (opts: { keyAlgorithm: KeyAlgorithm; json?: boolean }) => {
    await withRuntime(async (rt) => printInit(!!opts.json, await initialize(rt, { keyAlgorithm: opts.keyAlgorithm }), rt.config));
  });

program
  .command('serve')
  .description('run the HTTP front-ends (and, unless --no-worker, the CA worker in this process)')
  .option('--no-worker', 'front-ends only; run `certgate worker` processes separately')
  .addOption(processesOption())
  .addOption(jsonOption())
  .action(async (opts: { worker: boolean; processes?: number; json?: boolean }) => {
    await serve(config(processesOverride(opts.processes)), { worker: opts.worker, json: !!opts.json, protocols });
  });

program
  .command('start')
  .description('initialize on first start, then serve (the embedded default)')
  .addOption(processesOption())
  .addOption(jsonOption())
  .action(async (opts: { processes?: number; json?: boolean }) => {
    await serve(config(processesOverride(opts.processes)), { worker: true, json: !!opts.json, protocols, initFirst: (rt) => initialize(rt).then((r) => r.created && printInit(!!opts.json, r, rt.config)) });
  });

program
  .command('worker')
  .description('run a CA worker alone, consuming jobs from Redis (needs REDIS_URL)')
  .addOption(jsonOption())
  .action(async (opts: { json?: boolean }) => {
    const cfg = config();
    if (!cfg.redisUrl) throw new AppError('bad_request', 'REDIS_URL must be set: a lone worker takes its jobs from Redis');
    await serve(cfg, { worker: true, json: !!opts.json, http: false, protocols });
  });

const ca = program.command('ca').description('certificate authorities');
addPkcs11Options(ca.command('create'))
  .description('create a root CA, or with --parent an issuing CA under it; its key is sealed under the master key (or a passphrase), or kept in a PKCS#11 token (--pkcs11-module); with --upstream-acme, a CA whose certificates come from an upstream ACME CA')
  .requiredOption('--name <name>', 'unique name')
  .option('--subject <dn>', 'subject DN, e.g. "CN=Example Issuing CA, O=Example"')
  .addOption(keyAlgOption('ec-p256'))
  .option('--validity-days <n>', 'validity in days', (v) => Number(v), 3650)
  .option('--parent <id or name>', 'issue under this CA (makes an issuing CA)')
  .option('--passphrase-env <VAR>', 'protect the key with the passphrase in this environment variable instead of the master key')
  .option('--upstream-acme <DIRECTORY_URL>', 'an upstream ACME CA issues this CA\'s certificates: registers an account there (its key sealed under the master key)')
  .option('--upstream-chain-file <PEM>', 'with --upstream-acme: the upstream\'s issuing certificate, then its parents up to the root (what /cacerts and CA views show)')
  .option('--upstream-ca-file <PEM>', 'with --upstream-acme: trust this CA for the upstream\'s TLS certificate (a private upstream)')
  .option('--eab-kid <KID>', 'with --upstream-acme: external account binding key id')
  .option('--eab-hmac-key-env <VAR>', 'with --upstream-acme: environment variable holding the EAB HMAC key (base64url); used once, never stored')
  .option('--profile <NAME>', 'with --upstream-acme: the upstream\'s certificate profile to order')
  .option('--challenge <TYPE>', 'with --upstream-acme: how the upstream\'s challenges are answered: http-01 (served by certgate at /.well-known/acme-challenge/) or dns-01', 'http-01')
  .option('--dns-hook <PATH>', 'with --challenge dns-01: command called as PATH add|remove NAME VALUE')
  .option('--dns-server <HOST:PORT>', 'with --challenge dns-01: primary server accepting RFC 2136 updates')
  .option('--dns-zone <ZONE>', 'with --dns-server: the zone to update')
  .option('--tsig-key-name <NAME>', 'with --dns-server: TSIG key name')
  .option('--tsig-algorithm <ALG>', 'with --dns-server: TSIG algorithm', 'hmac-sha256')
  .option('--tsig-secret-env <VAR>', 'with --dns-server: environment variable holding the TSIG secret')
  .addOption(jsonOption())
  .action(async (opts: { name: string; subject?: string; keyAlgorithm: KeyAlgorithm; validityDays: number; parent?: string; passphraseEnv?: string; json?: boolean } & UpstreamCaCliOptions & Pkcs11Flags) => {
    await withRuntime(async (rt) => {
      if (opts.upstreamAcme) {
        if (opts.pkcs11Module) throw new AppError('bad_request', '--upstream-acme and --pkcs11-module choose two different backends: give one');
        const rec = await createUpstreamCa(rt.store, upstreamCaOptions(opts), rt.secrets, CLI_CONTEXT);
        await rt.catalogue.changed();
        print(!!opts.json, { id: rec.id, name: rec.name, type: rec.kind, backend: rec.backend, subject: rec.subject, certificate_pem: rec.certificatePem }, () => `created upstream ACME CA ${rec.id} (issuing under ${rec.subject})`);
        return;
      }
      const parentId = opts.parent ? (await findCa(rt, opts.parent)).id : undefined;
      const passphrase = opts.passphraseEnv ? process.env[opts.passphraseEnv] : undefined;
      if (opts.passphraseEnv && !passphrase) throw new AppError('bad_request', `environment variable ${opts.passphraseEnv} is empty`);
      const common = { name: opts.name, keyAlgorithm: opts.keyAlgorithm, validityDays: opts.validityDays, ...(opts.subject ? { subject: opts.subject } : {}), ...(parentId ? { parentId, parentPointers: rt.cas.pointersFor(parentId) } : {}) };
      const pkcs11 = pkcs11ChoiceOf(opts);
      const rec = pkcs11
        ? await (await import('./ca/createPkcs11Ca.js')).createPkcs11Ca(rt.store, common, rt.secrets, CLI_CONTEXT, pkcs11)
        : await createCa(rt.store, { ...common, ...(passphrase ? { passphrase } : {}) }, rt.secrets, CLI_CONTEXT);
      await rt.catalogue.changed();
      print(!!opts.json, { id: rec.id, name: rec.name, type: rec.kind, backend: rec.backend, subject: rec.subject, certificate_pem: rec.certificatePem }, () => `created ${rec.kind} CA ${rec.id} (${rec.subject})`);
    });
  });
ca.command('list')
  .description('every CA, root and issuing')
  .addOption(jsonOption())
  .action(async (opts: { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const list = await rt.store.cas.list();
      print(!!opts.json, list.map((c) => ({ id: c.id, name: c.name, type: c.kind, parent_id: c.parentId, subject: c.subject, key_algorithm: c.keyAlgorithm, backend: c.backend, valid_to: c.notAfter.toISOString() })), () =>
        table(['id', 'type', 'backend', 'key algorithm', 'valid to', 'name', 'subject'], list.map((c) => [c.id, c.kind, c.backend, c.keyAlgorithm, c.notAfter.toISOString().slice(0, 10), c.name, c.subject])),
      );
    });
  });
ca.command('show <ca>')
  .description('one CA, by id or name: its backend and what that backend can do (anything else is refused)')
  .addOption(jsonOption())
  .action(async (idOrName: string, opts: { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const c = await findCa(rt, idOrName);
      const capabilities = capabilitiesView(c);
      print(
        !!opts.json,
        { id: c.id, name: c.name, type: c.kind, parent_id: c.parentId, subject: c.subject, key_algorithm: c.keyAlgorithm, backend: c.backend, valid_to: c.notAfter.toISOString(), capabilities },
        () =>
          [
            `${c.name} (${c.id}), ${c.kind} CA: ${c.subject}`,
            `  backend:       ${c.backend} (${BACKEND_NAMES[c.backend]})`,
            `  valid to:      ${c.notAfter.toISOString()}`,
            `  signs locally: ${capabilities.sign_locally ? 'yes' : 'no'}`,
            `  CRL:           ${capabilities.crl ? 'published by certgate' : 'not published by certgate'}`,
            `  OCSP:          ${capabilities.ocsp ? 'answered by certgate' : 'not answered by certgate'}`,
            `  revocation:    ${capabilities.revoke === 'upstream' ? 'at the upstream CA first, then recorded here' : 'here (CRL and OCSP)'}`,
            `  suspend:       ${capabilities.suspend ? 'yes' : 'no'}`,
          ].join('\n'),
      );
    });
  });

/** `--subject-fixed O=Example` and `--subject-allowed OU=Web,Mail` as a template's subject policy (validated by the template schema). */
function subjectPolicyOptions(fixed: string[], allowed: string[], refuseUnlisted: boolean): unknown {
  const attributes: Record<string, unknown> = {};
  const split = (option: string, text: string): [string, string] => {
    const eq = text.indexOf('=');
    if (eq < 1) throw new AppError('bad_request', `${option} "${text}": give ATTRIBUTE=VALUE`);
    const name = text.slice(0, eq).trim();
    if (name in attributes) throw new AppError('bad_request', `${option}: ${name} is given twice`);
    return [name, text.slice(eq + 1).trim()];
  };
  for (const f of fixed) {
    const [name, value] = split('--subject-fixed', f);
    attributes[name] = { fixed: value };
  }
  for (const a of allowed) {
    const [name, values] = split('--subject-allowed', a);
    attributes[name] = { allowed: values.split(',').map((v) => v.trim()) };
  }
  return { attributes, unlisted: refuseUnlisted ? 'refuse' : 'drop' };
}
/** `--protocol-setting acme.eabRequired=true` as a template's `protocols` (checked by createProduct against each protocol's productSettings). */
function protocolSettings(settings: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const text of settings) {
    const m = /^([a-z][a-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)=(.*)$/.exec(text);
    if (!m) throw new AppError('bad_request', `--protocol-setting "${text}": give PROTOCOL.KEY=VALUE, e.g. acme.eabRequired=true`);
    const [, proto, key, raw] = m as unknown as [string, string, string, string];
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain text
    }
    (out[proto] ??= {})[key] = value;
  }
  return out;
}
/** `required, reuse 30 d` for the product table; templates stored before DCV existed have none. */
function dcvSummary(dcv: ProductTemplate['dcv'] | undefined): string {
  if (dcv?.mode !== 'required') return 'none';
  return `required, reuse ${dcv.reuseDays} d${dcv.subdomains ? ', subdomains' : ''}`;
}
const product = program.command('product').description('products: what a CA may issue, to whom');
product
  .command('create')
  .description('create a product: the policy its CA signs under (names, key algorithms, validity, approval, subject, custom fields)')
  .requiredOption('--name <name>', 'unique name')
  .requiredOption('--ca <id or name>', 'the CA that signs for this product')
  .option('--key-algorithms <list>', 'comma-separated, e.g. ec-p256,rsa-2048')
  .option('--default-validity-days <n>', 'default validity', (v) => Number(v))
  .option('--max-validity-days <n>', 'maximum validity (at most 397 for TLS server products)', (v) => Number(v))
  .option('--dns-suffix <suffix>', 'allowed DNS suffix (repeatable; none means any)', collect, [])
  .option('--allow-wildcards', 'allow *.example.com names')
  .option('--allow-ip-sans', 'allow IP address SANs')
  .option('--allow-email-sans', 'allow email SANs')
  .option('--allow-uri-sans', 'allow URI SANs')
  .option('--eku <list>', 'comma-separated extended key usages, e.g. serverAuth,clientAuth')
  .option('--requires-approval', 'hold each request for an operator to approve')
  .option('--self-approval', 'with --requires-approval: let a requester approve its own requests (by default an approver is never the requester: four eyes)')
  .option('--subject-fixed <attr=value>', 'a subject attribute every certificate carries, e.g. "O=Example Inc" (C, ST, L, O, OU; repeatable)', collect, [])
  .option('--subject-allowed <attr=v1,v2>', 'values a CSR may ask for, e.g. "OU=Web,Mail" (repeatable)', collect, [])
  .option('--refuse-unlisted-subject', 'refuse a CSR asking for other subject attributes (default: leave them out)')
  .option('--protocol-setting <proto.key=value>', 'a front-end\'s setting for this product, e.g. acme.eabRequired=true (repeatable; value as JSON, else text)', collect, [])
  .option('--custom-field <name:type[:required]>', 'a field each request carries, stored on the certificate and filterable; type string, number or boolean (repeatable)', collectCustomField, [])
  .option('--escrow-keys', 'keep the keys of managed-mode certificates, encrypted under the master key, for PKCS#12 download')
  .option('--expiry-notice-days <list>', 'days before expiry at which webhooks get certificate.expiring, e.g. 60,30,7 (default: CERTGATE_EXPIRY_NOTICE_DAYS)')
  .addOption(new Option('--dcv <mode>', 'domain control validation: none (default), or required (every protocol\'s requests wait until their names are validated)').choices(['none', 'required']))
  .option('--dcv-reuse-days <n>', 'with --dcv required: how old a validation may be to cover a request (default 30; at most CERTGATE_DCV_MAX_REUSE_DAYS)', (v) => Number(v))
  .option('--dcv-subdomains', 'with --dcv required: a domain validated over dns-01 covers the names under it (an http-01 validation proves one host)')
  .option('--dcv-dns-label <label>', 'the TXT label dns-01 looks under (default _certgate-challenge)')
  .addOption(jsonOption())
  .action(async (o: Record<string, unknown> & { name: string; ca: string; json?: boolean }) => {
    await withRuntime(async (rt) => {
      const caRec = await findCa(rt, o.ca);
      const template = parseProductTemplate({
        ...(o.keyAlgorithms ? { keyAlgorithms: String(o.keyAlgorithms).split(',') } : {}),
        ...(o.defaultValidityDays ? { defaultValidityDays: o.defaultValidityDays } : {}),
        ...(o.maxValidityDays ? { maxValidityDays: o.maxValidityDays } : {}),
        allowedDnsSuffixes: o.dnsSuffix,
        allowWildcards: !!o.allowWildcards,
        allowIpSans: !!o.allowIpSans,
        allowEmailSans: !!o.allowEmailSans,
        allowUriSans: !!o.allowUriSans,
        ...(o.eku ? { extendedKeyUsages: String(o.eku).split(',') } : {}),
        requiresApproval: !!o.requiresApproval,
        selfApproval: !!o.selfApproval,
        subject: subjectPolicyOptions(o.subjectFixed as string[], o.subjectAllowed as string[], !!o.refuseUnlistedSubject),
        protocols: protocolSettings(o.protocolSetting as string[]),
        customFields: o.customField,
        escrowKeys: !!o.escrowKeys,
        ...(o.expiryNoticeDays ? { expiryNoticeDays: String(o.expiryNoticeDays).split(',').map(Number) } : {}),
        dcv: {
          ...(o.dcv !== undefined ? { mode: o.dcv } : {}),
          ...(o.dcvReuseDays !== undefined ? { reuseDays: o.dcvReuseDays } : {}),
          subdomains: !!o.dcvSubdomains,
          ...(o.dcvDnsLabel !== undefined ? { dnsLabel: o.dcvDnsLabel } : {}),
        },
      });
      const rec = await createProduct(rt.store, { name: o.name, caId: caRec.id, template }, CLI_CONTEXT, protocols, rt.config);
      await rt.catalogue.changed();
      print(!!o.json, { id: rec.id, name: rec.name, ca_id: rec.caId, template: rec.template }, () => `created product ${rec.id} (${rec.name}) on CA ${caRec.name}`);
    });
  });
product
  .command('list')
  .description('every product, with its CA and main rules')
  .addOption(jsonOption())
  .action(async (opts: { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const list = await rt.store.products.list();
      print(!!opts.json, list.map((p) => ({ id: p.id, name: p.name, ca_id: p.caId, template: p.template })), () =>
        table(
          ['id', 'name', 'ca', 'max days', 'approval', 'dcv', 'extended key usages'],
          list.map((p) => [p.id, p.name, p.caId, p.template.maxValidityDays, p.template.requiresApproval ? 'yes' : 'no', dcvSummary(p.template.dcv), p.template.extendedKeyUsages.join(',')]),
        ),
      );
    });
  });

registerCredentialCommands(program, withRuntime);
registerOrganizationCommands(program, withRuntime);
registerAuditCommands(program, withRuntime);
registerReportCommands(program, withRuntime);
registerWebhookCommands(program, withRuntime);
registerDomainCommands(program, withRuntime);
// Rotation re-seals the protocols' tables too, so it opens the runtime with them mounted.
registerMasterKeyCommands(program, config, () => protocols);

const cert = program.command('cert').description('issued certificates');
cert
  .command('list')
  .description('issued certificates, newest first')
  .option('--ca <id or name>', 'only this CA\'s')
  .addOption(new Option('--status <status>', 'active: neither revoked nor expired').choices(['active', 'revoked', 'all']).default('all'))
  .option('--search <text>', 'common name contains this (any case)')
  .option('--expiring-in-days <n>', 'only those not yet expired that expire within n days', intArg(0, 36_500))
  .option('--limit <n>', 'certificates per page', intArg(1, 1000), 100)
  .option('--page <n>', 'page number, from 1', intArg(1, Number.MAX_SAFE_INTEGER), 1)
  .addOption(jsonOption())
  .action(async (opts: CertListOptions & { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const caId = opts.ca ? (await findCa(rt, opts.ca)).id : undefined;
      const now = Date.now();
      const list = await listCertificates(rt.store, caId, certFilter(opts, now), opts.limit, opts.page);
      print(!!opts.json, list.map((c) => certListJson(c, now)), () =>
        table(['id', 'status', 'valid to', 'common name', 'ca'], list.map((c) => [c.id, certStatus(c, now), c.validTo.toISOString().slice(0, 10), c.commonName ?? '(no CN)', c.caId])),
      );
    });
  });
cert
  .command('revoke <id>')
  .description('revoke a certificate; its CA publishes a new CRL at once')
  .option('--reason <reason>', 'RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise', 'unspecified')
  .option('--invalidity-date <iso-time>', 'when the key was (or may have been) compromised')
  .addOption(jsonOption())
  .action(async (id: string, opts: { reason: string; invalidityDate?: string; json?: boolean }) => {
    await withRuntime(async (rt) => {
      const invalidityDate = opts.invalidityDate ? new Date(opts.invalidityDate) : null;
      if (invalidityDate && Number.isNaN(invalidityDate.getTime())) throw new AppError('bad_request', `--invalidity-date "${opts.invalidityDate}" is not a date`);
      const revoked = await rt.revocations.revoke(id, { reason: parseRevocationReason(opts.reason), invalidityDate }, CLI_CONTEXT, () => undefined);
      // This process is about to exit: publish now rather than after the debounce. An upstream CA
      // (revoked there first) publishes its own CRL.
      const crl = (await rt.crls.publishesFor(revoked.caId)) ? await rt.crls.publish(revoked.caId) : null;
      print(!!opts.json, { id: revoked.id, revoked_at: revoked.revokedAt?.toISOString(), revocation_reason: revoked.revocationReason, crl_number: crl?.crlNumber ?? null }, () =>
        `revoked ${revoked.id} (${revoked.revocationReason}); ${crl ? `CRL ${crl.crlNumber} published` : 'revoked at the upstream CA, which publishes its status'}`,
      );
    });
  });
cert
  .command('reinstate <id>')
  .description('lift a certificateHold')
  .addOption(jsonOption())
  .action(async (id: string, opts: { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const lifted = await rt.revocations.reinstate(id, CLI_CONTEXT, () => undefined);
      const crl = await rt.crls.publish(lifted.caId);
      print(!!opts.json, { id: lifted.id, revoked_at: null, crl_number: crl.crlNumber }, () => `reinstated ${lifted.id}; CRL ${crl.crlNumber} published`);
    });
  });

interface CertListOptions {
  ca?: string;
  status: 'active' | 'revoked' | 'all';
  search?: string;
  expiringInDays?: number;
  limit: number;
  page: number;
}

/** The status GET /v1/certificates reports. */
function certStatus(c: CertificateRecord, now: number): 'active' | 'revoked' | 'expired' {
  return c.revokedAt ? 'revoked' : c.validTo.getTime() < now ? 'expired' : 'active';
}

function certFilter(opts: CertListOptions, now: number): (c: CertificateRecord) => boolean {
  const search = opts.search?.toLowerCase();
  const expiringBy = opts.expiringInDays === undefined ? undefined : now + opts.expiringInDays * 86_400_000;
  return (c) =>
    (opts.status === 'all' || certStatus(c, now) === opts.status) &&
    (search === undefined || (c.commonName ?? '').toLowerCase().includes(search)) &&
    (expiringBy === undefined || (c.validTo.getTime() >= now && c.validTo.getTime() <= expiringBy));
}

/**
 * One page of the certificates that pass `keep`, newest first. The store filters by CA only, so
 * the rest is filtered here while reading through the store's pages; pages are counted after
 * filtering, so --page 2 follows on from --page 1.
 */
async function listCertificates(store: Store, caId: string | undefined, keep: (c: CertificateRecord) => boolean, limit: number, page: number): Promise<CertificateRecord[]> {
  const batch = 500;
  const skip = (page - 1) * limit;
  const out: CertificateRecord[] = [];
  let matched = 0;
  for (let offset = 0; ; offset += batch) {
    const rows = await store.certificates.list({ ...(caId ? { caIds: [caId] } : {}), limit: batch, offset });
    for (const c of rows) {
      if (!keep(c) || matched++ < skip) continue;
      out.push(c);
      if (out.length === limit) return out;
    }
    if (rows.length < batch) return out;
  }
}

/** The fields of GET /v1/certificates, without the PEM (one certificate's is a REST call away). */
function certListJson(c: CertificateRecord, now: number) {
  const iso = (d: Date | null): string | null => d?.toISOString() ?? null;
  return {
    id: c.id,
    ca_id: c.caId,
    product_id: c.productId,
    serial_number: c.serialNumber,
    common_name: c.commonName,
    san_dns: c.sanDns,
    san_ip: c.sanIp,
    key_algorithm: c.keyAlgorithm,
    valid_from: iso(c.validFrom),
    valid_to: iso(c.validTo),
    status: certStatus(c, now),
    revoked_at: iso(c.revokedAt),
    revocation_reason: c.revocationReason,
    created_at: iso(c.createdAt),
  };
}

const request = program.command('request').description('enrollment requests');
request
  .command('approve <id>')
  .description('approve a request that waits for approval; a worker then signs it')
  .addOption(jsonOption())
  .action(async (id: string, opts: { json?: boolean }) => {
    await withRuntime(async (rt) => {
      const r = await rt.enrollments.approve(id, CLI_CONTEXT);
      print(!!opts.json, { id: r.id, status: r.status }, () => `approved ${r.id}; it is queued for signing by the next worker`);
    });
  });
request
  .command('decline <id>')
  .description('decline a request that waits for approval; the requester sees the reason')
  .requiredOption('--reason <text>', 'why, for the requester')
  .addOption(jsonOption())
  .action(async (id: string, opts: { reason: string; json?: boolean }) => {
    await withRuntime(async (rt) => {
      const r = await rt.enrollments.reject(id, opts.reason, CLI_CONTEXT);
      print(!!opts.json, { id: r.id, status: r.status, reason: r.statusReason }, () => `declined ${r.id}: ${opts.reason}`);
    });
  });

/** Runs the `certgate` command line with these front-ends registered. */
export function runCli(modules: readonly ProtocolModule[], argv: readonly string[]): void {
  protocols = modules;
  program.parseAsync(argv as string[]).catch((e: unknown) => {
    const err = e as Error;
    // Operator mistakes get their message only; a stack trace helps nobody here.
    console.error(`certgate: ${err.message}`);
    process.exit(1);
  });
}

/** The command tree as registered, for a test that holds every command to the same rules (description, --json, help). */
export const commandTree = (): Command => program;
