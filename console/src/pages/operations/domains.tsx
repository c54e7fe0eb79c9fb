// Domains (#/domains): the registry of names a holder proved control of, their validations (failed
// ones marked with why), and what the credential may do there: add, validate, remove.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { describedBy, Field } from '../../components/field';
import { ErrorMessage, Notice } from '../../components/states';
import { DataTable, type Column } from '../../components/table';
import { formatDateTime, relativeDays } from '../../format';
import { useAction, useLoad } from '../../hooks';
import { navigate } from '../../router';
import type { PageProps } from '../../routes';
import { useCan } from '../../session';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { ConfirmPanel, inputValue, Listing, StatusBadge } from './shared';

interface DomainJson {
  id: string;
  name: string;
  holder: string;
  status: string;
  method: string | null;
  validated_at: string | null;
  expires_at: string | null;
  last_error: string | null;
  source: string;
  created_by: string;
  created_at: string;
  challenges: { 'http-01': { url: string; content: string }; 'dns-01': { record_name: string; value: string } };
}

const STATUSES = ['', 'pending', 'validating', 'valid', 'failed'] as const;
const PAGE_SIZE = 50;

function AddPanel({ onCancel, onAdded }: { onCancel(): void; onAdded(d: DomainJson): void }) {
  const [name, setName] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const add = useAction((n: string) => api.post<DomainJson>('/domains', { name: n }));
  const hint = 'A DNS name such as example.com (a wildcard *.example.com is validated over dns-01).';
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) {
      setInvalid('Enter the domain name to add.');
      return;
    }
    setInvalid(null);
    const added = await add.run(name.trim());
    if (added) onAdded(added);
  };
  return (
    <ActionPanel id="add-domain-panel" title="Add a domain" onCancel={onCancel}>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="domain-name" label="Domain name" hint={hint} error={invalid}>
          <input id="domain-name" value={name} aria-invalid={invalid ? true : undefined} aria-describedby={describedBy('domain-name', hint, invalid)} onInput={(e) => setName(inputValue(e))} />
        </Field>
        <ErrorMessage message={add.error ? `Could not add the domain: ${add.error}` : null} />
        <PanelButtons label="Add domain" busyLabel="Adding…" busy={add.busy} onCancel={onCancel} />
      </form>
    </ActionPanel>
  );
}

function RemovePanel({ domain, onCancel, onRemoved }: { domain: DomainJson; onCancel(): void; onRemoved(message: string): void }) {
  const act = async () => {
    await api.del(`/domains/${domain.id}`);
    onRemoved(`Removed ${domain.name} from the registry.`);
  };
  return (
    <ConfirmPanel id={`remove-${domain.id}-panel`} title={`Remove ${domain.name}`} what="remove" label="Remove domain" busyLabel="Removing…" act={act} onCancel={onCancel}>
      <p>Certificates for {domain.name} will need a new validation; requests waiting on it are no longer linked to it.</p>
    </ConfirmPanel>
  );
}

/** What to publish for a domain not yet valid, folded: the tokens are long. */
function Challenge({ d }: { d: DomainJson }) {
  if (d.status === 'valid') return <>—</>;
  const http = d.challenges['http-01'];
  const dns = d.challenges['dns-01'];
  return (
    <details class="challenge">
      <summary>How to prove it</summary>
      <p>
        http-01: serve <code>{http.content}</code> at <code>{http.url}</code>
      </p>
      <p>
        dns-01: a TXT record <code>{dns.record_name}</code> with <code>{dns.value}</code>
      </p>
    </details>
  );
}

export function DomainsPage({ query }: PageProps) {
  const status = query.get('status') ?? '';
  const name = query.get('name') ?? '';
  const after = query.get('after') ?? '';
  const may = useCan();
  const mayChange = may('issue');
  const [nameInput, setNameInput] = useState(name);
  const list = useLoad(() => api.get<{ domains: DomainJson[]; nextCursor: string | null }>('/domains', { status, name, after, pageSize: PAGE_SIZE }), [status, name, after]);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<DomainJson | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const done = (message: string) => {
    setNotice(message);
    setAdding(false);
    setRemoving(null);
    list.reload();
  };
  const validate = useAction(async (d: DomainJson, method?: string) => {
    const after = await api.post<DomainJson>(`/domains/${d.id}/validate?wait=10`, method ? { method } : {});
    done(after.status === 'valid' ? `${d.name} is validated.` : after.status === 'failed' ? `The validation of ${d.name} failed: ${after.last_error ?? 'no reason given'}.` : `The validation of ${d.name} is still running; reload to see how it ends.`);
  });

  const columns: Column<DomainJson>[] = [
    { key: 'name', label: 'Domain', cell: (d) => d.name },
    { key: 'status', label: 'Status', cell: (d) => <StatusBadge status={d.status} /> },
    { key: 'validated', label: 'Validated', cell: (d) => (d.validated_at ? `${formatDateTime(d.validated_at)}${d.method ? ` (${d.method})` : ''}` : d.method ? `not yet (${d.method})` : 'not yet') },
    { key: 'reuse', label: 'Reusable until', cell: (d) => (d.expires_at ? `${formatDateTime(d.expires_at)} (${relativeDays(d.expires_at)})` : '—') },
    { key: 'error', label: 'Last error', cell: (d) => (d.last_error ? <span class="field-error">{d.last_error}</span> : '—') },
    { key: 'holder', label: 'Holder', cell: (d) => <span class="ops-wrap">{d.holder}</span> },
    { key: 'publish', label: 'To publish', cell: (d) => <Challenge d={d} /> },
    ...(mayChange
      ? [
          {
            key: 'actions',
            label: 'Actions',
            cell: (d: DomainJson) => (
              <div class="actions compact">
                <button type="button" class="secondary" disabled={validate.busy} aria-label={`Validate ${d.name}`} onClick={() => void validate.run(d)}>
                  Validate
                </button>
                <button type="button" class="danger" aria-label={`Remove ${d.name}`} aria-expanded={removing?.id === d.id} aria-controls={`remove-${d.id}-panel`} onClick={() => setRemoving(removing?.id === d.id ? null : d)}>
                  Remove
                </button>
              </div>
            ),
          },
        ]
      : []),
  ];

  const failed = list.data?.domains.filter((d) => d.status === 'failed').length ?? 0;
  return (
    <>
      {mayChange && (
        <div class="actions">
          <button type="button" aria-expanded={adding} aria-controls="add-domain-panel" onClick={() => setAdding(!adding)}>
            Add a domain
          </button>
        </div>
      )}
      {adding && <AddPanel onCancel={() => setAdding(false)} onAdded={(d) => done(`Added ${d.name}. Publish the token shown, then validate it.`)} />}
      {removing && <RemovePanel key={removing.id} domain={removing} onCancel={() => setRemoving(null)} onRemoved={done} />}
      <Notice message={notice} />
      <ErrorMessage message={validate.error ? `Could not validate: ${validate.error}` : null} />
      <form
        class="filters"
        aria-label="Filter domains"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('/domains', { status, name: nameInput.trim() });
        }}
      >
        <Field id="domain-filter-status" label="Status">
          <select id="domain-filter-status" value={status} onChange={(e) => navigate('/domains', { status: (e.target as HTMLSelectElement).value, name })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'All'}
              </option>
            ))}
          </select>
        </Field>
        <Field id="domain-filter-name" label="Name" hint="Exact, or .example.com for every name under it">
          <input id="domain-filter-name" value={nameInput} aria-describedby="domain-filter-name-hint" onInput={(e) => setNameInput(inputValue(e))} />
        </Field>
        <div class="field">
          <button type="submit">Search</button>
        </div>
      </form>
      <Listing loaded={list} what="the domains" isEmpty={(d) => d.domains.length === 0} empty={`No domain here yet${mayChange ? ': add one to validate it once and issue under it for a while.' : '.'}`}>
        {(data) => (
          <>
            {failed > 0 && (
              <p class="state error" role="status">
                {failed} validation{failed === 1 ? '' : 's'} failed on this page: see the last error, fix what it names, then validate again.
              </p>
            )}
            <DataTable caption="Domains" columns={columns} rows={data.domains} rowKey={(d) => d.id} />
            <nav class="pager" aria-label="Pages">
              {after && (
                <button type="button" class="secondary" onClick={() => navigate('/domains', { status, name })}>
                  First page
                </button>
              )}
              {data.nextCursor && (
                <button type="button" class="secondary" onClick={() => navigate('/domains', { status, name, after: data.nextCursor })}>
                  Next page
                </button>
              )}
            </nav>
          </>
        )}
      </Listing>
    </>
  );
}
