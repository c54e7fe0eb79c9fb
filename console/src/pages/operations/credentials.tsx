// Credentials (#/credentials, admin): every protocol's credentials with their state and last use;
// create one (its secret shown once), rotate a secret with a grace period, revoke.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { describedBy, Field } from '../../components/field';
import { ErrorMessage, Loading, Notice } from '../../components/states';
import { DataTable, Pager, type Column } from '../../components/table';
import { formatDateTime, relativeDays } from '../../format';
import { useAction, useLoad } from '../../hooks';
import { href, navigate } from '../../router';
import type { PageProps } from '../../routes';
import type { Action } from '../../session';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { AuditHistory, ConfirmPanel, inputValue, Listing, type Paged, StatusBadge, useCatalogue } from './shared';

interface CredentialJson {
  id: string;
  type: string;
  name: string;
  status: string;
  products: string[] | '*';
  owner_user: string | null;
  owner_group: string | null;
  expires_at: string | null;
  allow_ips: string[];
  scope: string;
  permissions?: { ca: string; actions: Action[] }[];
  admin?: boolean;
  created_at: string;
  last_used_at: string | null;
  use_count: number;
  revoked_at: string | null;
  previous_secret_valid_until: string | null;
}

type Created = CredentialJson & { secret: string };

const PERMISSION_ACTIONS: Action[] = ['read', 'issue', 'revoke', 'approve', 'exportKeys', 'exportAnyKeys'];
const STATUSES = ['all', 'active', 'revoked', 'expired'] as const;
const PAGE_SIZE = 20;

/** The credential types the gateway registered, as its OpenAPI document lists them for the type filter. */
async function credentialTypes(): Promise<string[]> {
  const doc = await api.get<{ paths?: Record<string, { get?: { parameters?: { name: string; schema?: { enum?: string[] } }[] } }> }>('/openapi');
  // The document names paths from the gateway's own root, which a proxy in front may have moved.
  const list = Object.entries(doc.paths ?? {}).find(([path]) => path.endsWith('/credentials'))?.[1];
  return list?.get?.parameters?.find((p) => p.name === 'type')?.schema?.enum ?? [];
}

/** The secret of a credential just made or rotated: shown here once, gone from the page when dismissed. */
function SecretPanel({ created, onDismiss }: { created: Created; onDismiss(): void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = () =>
    navigator.clipboard.writeText(created.secret).then(
      () => setCopied('Copied to the clipboard.'),
      () => setCopied('The browser did not allow copying: select the secret and copy it by hand.'),
    );
  return (
    <ActionPanel id="secret-panel" title={`The secret of ${created.name}`} onCancel={onDismiss}>
      <p>
        <strong>Shown once: store it now.</strong> certgate keeps only its hash; it cannot show it again. {created.type === 'rest' ? 'Send it as a bearer token (Authorization: Bearer …) or sign in to the console with it.' : ''}
      </p>
      <p>
        <label for="secret-value">Secret</label>
        <br />
        <input id="secret-value" class="secret mono" readOnly value={created.secret} onFocus={(e) => (e.target as HTMLInputElement).select()} />
      </p>
      <div class="actions">
        <button type="button" onClick={() => void copy()}>
          Copy the secret
        </button>
        <button type="button" class="secondary" onClick={onDismiss}>
          I have stored it
        </button>
      </div>
      <Notice message={copied} />
    </ActionPanel>
  );
}

function CreatePanel({ types, onCancel, onCreated }: { types: string[]; onCancel(): void; onCreated(c: Created): void }) {
  const catalogue = useCatalogue();
  const [type, setType] = useState(types.includes('rest') ? 'rest' : (types[0] ?? ''));
  const [name, setName] = useState('');
  const [allProducts, setAllProducts] = useState(false);
  const [products, setProducts] = useState<string[]>([]);
  const [grants, setGrants] = useState<Record<string, Action[]>>({});
  const [admin, setAdmin] = useState(false);
  const [scope, setScope] = useState('product');
  const [ownerUser, setOwnerUser] = useState('');
  const [ownerGroup, setOwnerGroup] = useState('');
  const [expiresInDays, setExpiresInDays] = useState('');
  const [allowIps, setAllowIps] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const create = useAction((body: Record<string, unknown>) => api.post<Created>('/credentials', body));

  const toggle = (list: string[], value: string, on: boolean) => (on ? [...list, value] : list.filter((v) => v !== value));
  const grantRows = [{ id: '*', name: 'Every CA' }, ...catalogue.cas];
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!allProducts && products.length === 0) {
      setInvalid('Choose the products it may use, or all products.');
      return;
    }
    if (expiresInDays && !(Number(expiresInDays) >= 1)) {
      setInvalid('Expires in: a whole number of days, at least 1 (or empty for never).');
      return;
    }
    setInvalid(null);
    const permissions = Object.entries(grants)
      .filter(([, actions]) => actions.length)
      .map(([ca, actions]) => ({ ca, actions }));
    const body = {
      type,
      ...(name.trim() ? { name: name.trim() } : {}),
      products: allProducts ? '*' : products,
      ...(ownerUser.trim() ? { ownerUser: ownerUser.trim() } : {}),
      ...(ownerGroup.trim() ? { ownerGroup: ownerGroup.trim() } : {}),
      ...(expiresInDays ? { expiresInDays: Number(expiresInDays) } : {}),
      ...(allowIps.trim() ? { allowIps: allowIps.split(/[\s,]+/).filter(Boolean) } : {}),
      ...(type === 'rest' ? { permissions, admin, scope } : {}),
    };
    const made = await create.run(body);
    if (made) onCreated(made);
  };
  return (
    <ActionPanel id="create-panel" title="New credential" onCancel={onCancel}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <div class="grid">
          <div>
            <Field id="cred-type" label="Type" hint="The protocol it signs in to.">
              <select id="cred-type" value={type} aria-describedby="cred-type-hint" onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
                {types.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="cred-name" label="Name" hint="Optional; a generated one otherwise.">
              <input id="cred-name" value={name} maxLength={128} aria-describedby="cred-name-hint" onInput={(e) => setName(inputValue(e))} />
            </Field>
            <Field id="cred-owner-user" label="Owner (user)">
              <input id="cred-owner-user" value={ownerUser} onInput={(e) => setOwnerUser(inputValue(e))} />
            </Field>
            <Field id="cred-owner-group" label="Owner (group)">
              <input id="cred-owner-group" value={ownerGroup} onInput={(e) => setOwnerGroup(inputValue(e))} />
            </Field>
            <Field id="cred-expires" label="Expires in (days)" hint="Empty: it does not expire.">
              <input id="cred-expires" type="number" min={1} value={expiresInDays} aria-describedby="cred-expires-hint" onInput={(e) => setExpiresInDays(inputValue(e))} />
            </Field>
            <Field id="cred-ips" label="Allowed source addresses" hint="IP addresses or CIDR ranges, separated by commas; empty: any.">
              <input id="cred-ips" value={allowIps} aria-describedby="cred-ips-hint" onInput={(e) => setAllowIps(inputValue(e))} />
            </Field>
          </div>
          <div>
            <fieldset>
              <legend>Products</legend>
              <label class="check">
                <input type="checkbox" checked={allProducts} onChange={(e) => setAllProducts((e.target as HTMLInputElement).checked)} /> All products, present and future
              </label>
              {!allProducts &&
                catalogue.products.map((p) => (
                  <label class="check" key={p.id}>
                    <input type="checkbox" checked={products.includes(p.id)} onChange={(e) => setProducts(toggle(products, p.id, (e.target as HTMLInputElement).checked))} /> {p.name}
                  </label>
                ))}
            </fieldset>
            {type === 'rest' && (
              <>
                <fieldset>
                  <legend>Permissions</legend>
                  {grantRows.map((ca) => (
                    <fieldset key={ca.id} class="grant">
                      <legend>{ca.name}</legend>
                      {PERMISSION_ACTIONS.map((a) => (
                        <label class="check inline" key={a}>
                          <input
                            type="checkbox"
                            checked={grants[ca.id]?.includes(a) ?? false}
                            onChange={(e) => setGrants({ ...grants, [ca.id]: toggle(grants[ca.id] ?? [], a, (e.target as HTMLInputElement).checked) as Action[] })}
                          />{' '}
                          {a}
                        </label>
                      ))}
                    </fieldset>
                  ))}
                </fieldset>
                <Field id="cred-scope" label="Scope">
                  <select id="cred-scope" value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
                    <option value="product">Everything of its products</option>
                    <option value="own">Only what it requested itself</option>
                  </select>
                </Field>
                <label class="check">
                  <input type="checkbox" checked={admin} onChange={(e) => setAdmin((e.target as HTMLInputElement).checked)} /> Admin: may do everything, including managing credentials
                </label>
              </>
            )}
          </div>
        </div>
        {invalid && (
          <p class="field-error" role="alert">
            {invalid}
          </p>
        )}
        <ErrorMessage message={create.error ? `Could not create the credential: ${create.error}` : null} />
        <PanelButtons label="Create credential" busyLabel="Creating…" busy={create.busy} disabled={!type} onCancel={onCancel} />
      </form>
    </ActionPanel>
  );
}

function RotatePanel({ credential, onCancel, onRotated }: { credential: CredentialJson; onCancel(): void; onRotated(c: Created): void }) {
  const [hours, setHours] = useState('24');
  const [invalid, setInvalid] = useState<string | null>(null);
  const rotate = useAction((graceSeconds: number) => api.post<Created>(`/credentials/${credential.id}/rotate`, { graceSeconds }));
  const hint = 'How long the old secret keeps working, so clients can move to the new one (0: it stops at once; at most 720 hours).';
  const submit = async (e: Event) => {
    e.preventDefault();
    const h = Number(hours);
    if (hours.trim() === '' || !Number.isFinite(h) || h < 0 || h > 720) {
      setInvalid('Grace period: a number of hours from 0 to 720.');
      return;
    }
    setInvalid(null);
    const rotated = await rotate.run(Math.round(h * 3600));
    if (rotated) onRotated(rotated);
  };
  return (
    <ActionPanel id={`rotate-${credential.id}-panel`} title={`Rotate the secret of ${credential.name}`} onCancel={onCancel}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="grace" label="Grace period (hours)" hint={hint} error={invalid}>
          <input id="grace" type="number" min={0} max={720} step="any" value={hours} aria-invalid={invalid ? true : undefined} aria-describedby={describedBy('grace', hint, invalid)} onInput={(e) => setHours(inputValue(e))} />
        </Field>
        <ErrorMessage message={rotate.error ? `Could not rotate: ${rotate.error}` : null} />
        <PanelButtons label="Rotate secret" busyLabel="Rotating…" busy={rotate.busy} onCancel={onCancel} />
      </form>
    </ActionPanel>
  );
}

function RevokePanel({ credential, onCancel, onRevoked }: { credential: CredentialJson; onCancel(): void; onRevoked(message: string): void }) {
  const act = async () => {
    await api.post(`/credentials/${credential.id}/revoke`);
    onRevoked(`Revoked ${credential.name}: it no longer signs in anywhere.`);
  };
  return (
    <ConfirmPanel id={`revoke-${credential.id}-panel`} title={`Revoke ${credential.name}`} what="revoke" label="Revoke credential" busyLabel="Revoking…" act={act} onCancel={onCancel}>
      <p>
        The {credential.type} credential <strong>{credential.name}</strong> stops working at once, in every process; its console sessions end. This cannot be undone.
      </p>
    </ConfirmPanel>
  );
}

const rotatedMessage = (c: Created): string =>
  `Rotated the secret of ${c.name}${c.previous_secret_valid_until ? `; the old one works until ${formatDateTime(c.previous_secret_valid_until)}` : '; the old one no longer works'}.`;

type Open = { kind: 'create' } | { kind: 'rotate'; credential: CredentialJson } | { kind: 'revoke'; credential: CredentialJson } | null;

export function CredentialsPage({ query }: PageProps) {
  const type = query.get('type') ?? '';
  const status = query.get('status') ?? 'all';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const state = { type, status: status === 'all' ? undefined : status, page };
  const types = useLoad(credentialTypes, []);
  const catalogue = useCatalogue();
  const list = useLoad(() => api.get<{ credentials: CredentialJson[] } & Paged>('/credentials', { type, status, page, pageSize: PAGE_SIZE }), [type, status, page]);
  const [open, setOpen] = useState<Open>(null);
  const [secret, setSecret] = useState<Created | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const done = (message: string | null, shown: Created | null = null) => {
    setOpen(null);
    setNotice(message);
    setSecret(shown);
    list.reload();
  };
  const isOpen = (kind: 'rotate' | 'revoke', c: CredentialJson) => open?.kind === kind && open.credential.id === c.id;

  const productsOf = (c: CredentialJson) => (c.products === '*' ? 'all' : c.products.map(catalogue.productName).join(', '));
  const columns: Column<CredentialJson>[] = [
    { key: 'name', label: 'Name', cell: (c) => <a href={href(`/credentials/${c.id}`)}>{c.name}</a> },
    { key: 'type', label: 'Type', cell: (c) => `${c.type}${c.admin ? ' (admin)' : ''}` },
    { key: 'products', label: 'Products', cell: productsOf },
    { key: 'status', label: 'Status', cell: (c) => <StatusBadge status={c.status} /> },
    { key: 'expires', label: 'Expires', cell: (c) => (c.expires_at ? `${formatDateTime(c.expires_at)} (${relativeDays(c.expires_at)})` : 'never') },
    { key: 'used', label: 'Last use', cell: (c) => (c.last_used_at ? `${formatDateTime(c.last_used_at)} (${c.use_count}×)` : 'never') },
    { key: 'created', label: 'Created', cell: (c) => formatDateTime(c.created_at) },
    {
      key: 'actions',
      label: 'Actions',
      cell: (c) =>
        c.status === 'revoked' ? (
          c.revoked_at ? `revoked ${formatDateTime(c.revoked_at)}` : '—'
        ) : (
          <div class="actions compact">
            <button type="button" class="secondary" aria-label={`Rotate ${c.name}`} aria-expanded={isOpen('rotate', c)} aria-controls={`rotate-${c.id}-panel`} onClick={() => setOpen(isOpen('rotate', c) ? null : { kind: 'rotate', credential: c })}>
              Rotate
            </button>
            <button type="button" class="danger" aria-label={`Revoke ${c.name}`} aria-expanded={isOpen('revoke', c)} aria-controls={`revoke-${c.id}-panel`} onClick={() => setOpen(isOpen('revoke', c) ? null : { kind: 'revoke', credential: c })}>
              Revoke
            </button>
          </div>
        ),
    },
  ];

  return (
    <>
      <div class="actions">
        <button type="button" aria-expanded={open?.kind === 'create'} aria-controls="create-panel" disabled={!types.data?.length} onClick={() => setOpen(open?.kind === 'create' ? null : { kind: 'create' })}>
          New credential
        </button>
      </div>
      <ErrorMessage message={types.error ? `Could not read the credential types: ${types.error}` : null} />
      {secret && <SecretPanel created={secret} onDismiss={() => setSecret(null)} />}
      <Notice message={notice} />
      {open?.kind === 'create' && <CreatePanel types={types.data ?? []} onCancel={() => setOpen(null)} onCreated={(c) => done(`Created the ${c.type} credential ${c.name}.`, c)} />}
      {open?.kind === 'rotate' && (
        <RotatePanel
          key={open.credential.id}
          credential={open.credential}
          onCancel={() => setOpen(null)}
          onRotated={(c) => done(rotatedMessage(c), c)}
        />
      )}
      {open?.kind === 'revoke' && <RevokePanel key={open.credential.id} credential={open.credential} onCancel={() => setOpen(null)} onRevoked={(m) => done(m)} />}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter credentials">
        <Field id="cred-filter-type" label="Type">
          <select id="cred-filter-type" value={type} onChange={(e) => navigate('/credentials', { ...state, type: (e.target as HTMLSelectElement).value, page: 1 })}>
            <option value="">All types</option>
            {(types.data ?? []).map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <Field id="cred-filter-status" label="Status">
          <select id="cred-filter-status" value={status} onChange={(e) => navigate('/credentials', { ...state, status: (e.target as HTMLSelectElement).value, page: 1 })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === 'all' ? 'All' : s}
              </option>
            ))}
          </select>
        </Field>
      </form>
      <Listing loaded={list} what="the credentials" isEmpty={(d) => d.credentials.length === 0} empty="No credential matches these filters.">
        {(d) => (
          <>
            <DataTable caption="Credentials" columns={columns} rows={d.credentials} rowKey={(c) => c.id} />
            <Pager page={page} pageSize={PAGE_SIZE} total={d.total} onPage={(p) => navigate('/credentials', { ...state, page: p })} />
          </>
        )}
      </Listing>
    </>
  );
}

/** A credential's page (#/credentials/:id): everything about it but its secret, rotate and revoke, and what it did. */
export function CredentialPage({ params }: PageProps) {
  const id = params.id as string;
  const credential = useLoad(() => api.get<CredentialJson>(`/credentials/${id}`), [id]);
  const catalogue = useCatalogue();
  const [open, setOpen] = useState<'rotate' | 'revoke' | null>(null);
  const [secret, setSecret] = useState<Created | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const done = (message: string, shown: Created | null = null) => {
    setOpen(null);
    setNotice(message);
    setSecret(shown);
    credential.reload();
  };
  if (credential.loading && !credential.data) return <Loading what="Loading the credential" />;
  if (credential.error || !credential.data) return <ErrorMessage message={`Could not load credential ${id}: ${credential.error ?? 'no answer'}`} onRetry={credential.reload} />;
  const c = credential.data;
  return (
    <>
      <p>
        <a href={href('/credentials')}>Back to the credentials</a>
      </p>
      {secret && <SecretPanel created={secret} onDismiss={() => setSecret(null)} />}
      <Notice message={notice} />
      <section class="panel ops">
        <h2>{c.name}</h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={c.status} />
          </dd>
          <dt>Type</dt>
          <dd>{c.type}</dd>
          {c.type === 'rest' && (
            <>
              <dt>Admin</dt>
              <dd>{c.admin ? 'yes: may do everything' : 'no'}</dd>
              <dt>Permissions</dt>
              <dd>{c.permissions?.length ? c.permissions.map((p) => `${p.ca === '*' ? 'every CA' : catalogue.caName(p.ca)}: ${p.actions.join(', ')}`).join('; ') : 'none'}</dd>
            </>
          )}
          <dt>Scope</dt>
          <dd>{c.scope === 'own' ? 'only what it requested itself' : 'everything of its products'}</dd>
          <dt>Products</dt>
          <dd>{c.products === '*' ? 'all' : c.products.map(catalogue.productName).join(', ')}</dd>
          <dt>Owner</dt>
          <dd>{[c.owner_user && `user ${c.owner_user}`, c.owner_group && `group ${c.owner_group}`].filter(Boolean).join(', ') || '—'}</dd>
          <dt>Allowed from</dt>
          <dd>{c.allow_ips.length ? c.allow_ips.join(', ') : 'anywhere'}</dd>
          <dt>Expires</dt>
          <dd>{c.expires_at ? `${formatDateTime(c.expires_at)} (${relativeDays(c.expires_at)})` : 'never'}</dd>
          <dt>Last use</dt>
          <dd>{c.last_used_at ? `${formatDateTime(c.last_used_at)}, ${c.use_count} uses in all` : 'never'}</dd>
          {c.previous_secret_valid_until && (
            <>
              <dt>Old secret works until</dt>
              <dd>{formatDateTime(c.previous_secret_valid_until)}</dd>
            </>
          )}
          <dt>Created</dt>
          <dd>{formatDateTime(c.created_at)}</dd>
          {c.revoked_at && (
            <>
              <dt>Revoked</dt>
              <dd>{formatDateTime(c.revoked_at)}</dd>
            </>
          )}
          <dt>Id</dt>
          <dd class="mono">{c.id}</dd>
        </dl>
        {c.status !== 'revoked' && (
          <div class="actions">
            <button type="button" class="secondary" aria-expanded={open === 'rotate'} aria-controls={`rotate-${c.id}-panel`} onClick={() => setOpen(open === 'rotate' ? null : 'rotate')}>
              Rotate
            </button>
            <button type="button" class="danger" aria-expanded={open === 'revoke'} aria-controls={`revoke-${c.id}-panel`} onClick={() => setOpen(open === 'revoke' ? null : 'revoke')}>
              Revoke
            </button>
          </div>
        )}
      </section>
      {open === 'rotate' && <RotatePanel credential={c} onCancel={() => setOpen(null)} onRotated={(r) => done(rotatedMessage(r), r)} />}
      {open === 'revoke' && <RevokePanel credential={c} onCancel={() => setOpen(null)} onRevoked={(m) => done(m)} />}
      <AuditHistory filter={{ target: c.id }} title="Changes to it" caption="Changes to this credential" />
      <AuditHistory filter={{ actor: c.id }} title="What it did" caption="What this credential did" />
    </>
  );
}
