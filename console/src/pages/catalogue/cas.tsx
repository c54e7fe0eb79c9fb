// CAs: the list every reader sees, one CA's details and chain, and (for admins) a new local CA.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { DataTable, type Column } from '../../components/table';
import { Empty, ErrorMessage, Loading, Notice } from '../../components/states';
import { formatDate, formatDateTime } from '../../format';
import { useAction, useLoad } from '../../hooks';
import { href, navigate } from '../../router';
import type { PageProps } from '../../routes';
import { useSession } from '../../session';
import { KEY_ALGORITHMS, yesNo, type Ca, type CaDetail } from './types';

const kindOf = (c: Ca) => (c.type === 'root' ? 'root' : 'issuing');

export function Cas() {
  const { whoami } = useSession();
  const data = useLoad(() => api.get<{ cas: Ca[] }>('/cas'), []);
  const names = new Map((data.data?.cas ?? []).map((c) => [c.id, c.name]));
  const columns: Column<Ca>[] = [
    { key: 'name', label: 'Name', cell: (c) => <a href={href(`/cas/${c.id}`)}>{c.name}</a> },
    { key: 'kind', label: 'Kind', cell: (c) => <span class="badge">{kindOf(c)}</span> },
    { key: 'parent', label: 'Parent', cell: (c) => (c.parent_ca_id ? <a href={href(`/cas/${c.parent_ca_id}`)}>{names.get(c.parent_ca_id) ?? c.parent_ca_id}</a> : '—') },
    { key: 'subject', label: 'Subject', cell: (c) => c.subject },
    { key: 'backend', label: 'Backend', cell: (c) => c.backend },
    { key: 'key', label: 'Key algorithm', cell: (c) => c.key_algorithm },
    { key: 'valid', label: 'Valid to', cell: (c) => formatDate(c.valid_to) },
  ];
  return (
    <>
      {whoami.admin && (
        <div class="actions">
          <a class="button" href={href('/cas/new')}>
            New CA
          </a>
        </div>
      )}
      {data.loading && !data.data ? (
        <Loading what="Loading the CAs" />
      ) : data.error ? (
        <ErrorMessage message={`Could not load the CAs: ${data.error}`} onRetry={data.reload} />
      ) : data.data && data.data.cas.length === 0 ? (
        <Empty>No CA you may read.</Empty>
      ) : data.data ? (
        <DataTable caption="Certificate authorities" columns={columns} rows={data.data.cas} rowKey={(c) => c.id} />
      ) : null}
    </>
  );
}

/** Where the gateway publishes a CA's status (when it does): beside the console, at the same origin. */
const published = (path: string) => new URL(`../${path}`, document.baseURI).href;

export function CaPage({ params, query }: PageProps) {
  const data = useLoad(async () => {
    const id = encodeURIComponent(params.id ?? '');
    const [{ ca }, { chain }, all] = await Promise.all([api.get<{ ca: CaDetail }>(`/cas/${id}`), api.get<{ chain: string[] }>(`/cas/${id}/chain`), api.get<{ cas: Ca[] }>('/cas')]);
    return { ca, chain, parent: all.cas.find((c) => c.id === ca.parent_ca_id) ?? null, children: all.cas.filter((c) => c.parent_ca_id === ca.id) };
  }, [params.id]);
  if (data.loading && !data.data) return <Loading what="Loading the CA" />;
  if (data.error || !data.data) return <ErrorMessage message={`Could not load the CA: ${data.error ?? 'no answer'}`} onRetry={data.reload} />;
  const { ca, chain, parent, children } = data.data;
  const caps = ca.capabilities;
  return (
    <>
      <h2>{ca.name}</h2>
      <Notice message={query.get('created') ? `CA ${ca.name} created.` : null} />
      <div class="grid">
        <section class="panel" aria-labelledby="ca-cert">
          <h3 id="ca-cert">Certificate</h3>
          <dl class="facts">
            <dt>Subject</dt>
            <dd>{ca.subject}</dd>
            <dt>Kind</dt>
            <dd>{kindOf(ca)}</dd>
            <dt>Parent</dt>
            <dd>{parent ? <a href={href(`/cas/${parent.id}`)}>{parent.name}</a> : ca.parent_ca_id ?? '— (a root)'}</dd>
            <dt>Key algorithm</dt>
            <dd>{ca.key_algorithm}</dd>
            <dt>Valid</dt>
            <dd>
              {formatDateTime(ca.valid_from)} to {formatDateTime(ca.valid_to)}
            </dd>
            <dt>Serial number</dt>
            <dd class="mono">{ca.serial_number}</dd>
            <dt>Path length</dt>
            <dd>{ca.path_length ?? 'unlimited'}</dd>
            <dt>Issuing CAs under it</dt>
            <dd>{children.length ? children.map((c, i) => <span key={c.id}>{i > 0 && ', '}<a href={href(`/cas/${c.id}`)}>{c.name}</a></span>) : 'none'}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="ca-backend">
          <h3 id="ca-backend">Backend and status</h3>
          <dl class="facts">
            <dt>Backend</dt>
            <dd>{ca.backend}</dd>
            <dt>Key protection</dt>
            <dd>{ca.backend !== 'local' ? 'kept by the backend' : ca.has_passphrase ? 'its own passphrase' : 'sealed under the master key'}</dd>
            <dt>Signs locally</dt>
            <dd>{yesNo(caps.sign_locally)}</dd>
            <dt>CRL</dt>
            <dd>{caps.crl ? <a href={published(`crl/${ca.id}.crl`)}>{published(`crl/${ca.id}.crl`)}</a> : 'not published by certgate'}</dd>
            <dt>OCSP</dt>
            <dd>{caps.ocsp ? published('ocsp') : 'not answered by certgate'}</dd>
            <dt>Revocation</dt>
            <dd>{caps.revoke === 'upstream' ? 'at the upstream CA first, then recorded here' : 'here (CRL and OCSP)'}</dd>
            <dt>Suspend</dt>
            <dd>{yesNo(caps.suspend)}</dd>
          </dl>
        </section>
      </div>
      <details class="panel">
        <summary>The chain ({chain.length} certificate{chain.length === 1 ? '' : 's'}, from this CA up to the root)</summary>
        <pre>{chain.join('')}</pre>
      </details>
      <p class="hint">A CA's name, subject and key do not change here: names are how CLI commands, EST and CMP labels and passphrase settings refer to a CA.</p>
    </>
  );
}

export function CaNew() {
  const { whoami } = useSession();
  const cas = useLoad(() => api.get<{ cas: Ca[] }>('/cas'), []);
  const [name, setName] = useState('');
  const [subject, setSubject] = useState('');
  const [keyAlgorithm, setKeyAlgorithm] = useState('ec-p256');
  const [validity, setValidity] = useState('3650');
  const [parent, setParent] = useState('');
  const [localError, setLocalError] = useState<string | null>(null);
  const create = useAction((body: Record<string, unknown>) => api.post<{ ca: CaDetail }>('/cas', body));
  if (!whoami.admin) return <ErrorMessage message="Only an admin credential makes CAs. You can read them on the CAs page." />;
  if (cas.loading && !cas.data) return <Loading what="Loading the CAs" />;
  if (cas.error || !cas.data) return <ErrorMessage message={`Could not load the CAs: ${cas.error ?? 'no answer'}`} onRetry={cas.reload} />;
  // Only a root certifies a CA: an issuing CA signs end entities only (path length 0).
  const parents = cas.data.cas.filter((c) => c.capabilities.sign_locally && c.type === 'root');
  const submit = async (e: Event) => {
    e.preventDefault();
    setLocalError(null);
    if (!name.trim()) return setLocalError('Give the CA a name.');
    const days = Number(validity);
    if (!Number.isInteger(days) || days < 1) return setLocalError('Validity is a whole number of days, 1 or more.');
    const made = await create.run({ name: name.trim(), key_algorithm: keyAlgorithm, validity_days: days, ...(subject.trim() ? { subject: subject.trim() } : {}), ...(parent ? { parent_ca_id: parent } : {}) });
    if (made) navigate(`/cas/${made.ca.id}`, { created: '1' });
  };
  const error = localError ?? (create.error ? `Could not create the CA: ${create.error}` : null);
  return (
    <form onSubmit={submit} noValidate class="panel">
      <p>
        A CA whose key certgate makes and seals under the master key. CAs with a key in a PKCS#11 token, a passphrase-protected key or an upstream ACME CA are made with <code>certgate ca create</code>.
      </p>
      <Field id="ca-name" label="Name" hint="Unique; CLI commands, EST and CMP labels and passphrase settings refer to the CA by it.">
        <input id="ca-name" value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} aria-describedby="ca-name-hint" />
      </Field>
      <Field id="ca-subject" label="Subject" hint='e.g. "CN=Example Issuing CA, O=Example"; empty: CN=<name>.'>
        <input id="ca-subject" value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value)} aria-describedby="ca-subject-hint" />
      </Field>
      <Field id="ca-parent" label="Parent" hint="An issuing CA is certified by its parent; without one, this is a new root.">
        <select id="ca-parent" value={parent} onChange={(e) => setParent((e.target as HTMLSelectElement).value)} aria-describedby="ca-parent-hint">
          <option value="">None: a new root CA</option>
          {parents.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name} ({kindOf(c)})
            </option>
          ))}
        </select>
      </Field>
      <div class="grid">
        <Field id="ca-key" label="Key algorithm">
          <select id="ca-key" value={keyAlgorithm} onChange={(e) => setKeyAlgorithm((e.target as HTMLSelectElement).value)}>
            {KEY_ALGORITHMS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </Field>
        <Field id="ca-validity" label="Validity (days)" hint="An issuing CA ends no later than its parent.">
          <input id="ca-validity" type="number" min={1} value={validity} onInput={(e) => setValidity((e.target as HTMLInputElement).value)} aria-describedby="ca-validity-hint" />
        </Field>
      </div>
      <ErrorMessage message={error} />
      <div class="actions">
        <button type="submit" disabled={create.busy}>
          {create.busy ? 'Creating…' : 'Create CA'}
        </button>
        <a class="button secondary" href={href('/cas')}>
          Cancel
        </a>
      </div>
    </form>
  );
}
