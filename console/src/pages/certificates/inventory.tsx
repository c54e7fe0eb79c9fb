// The inventory: Certman's filters (status, CA, product, expiring within N days, owner, a custom
// field, search), sortable columns and paging, all in the fragment's query so a view can be linked;
// and the CSV export of every match, a plain link with the same filters and order.
import { useEffect, useState } from 'preact/hooks';
import { api, apiUrl, type Query } from '../../api';
import { Field } from '../../components/field';
import { Empty, ErrorMessage, Loading } from '../../components/states';
import { DataTable, Pager, type Column } from '../../components/table';
import { formatDate, relativeDays } from '../../format';
import { useLoad } from '../../hooks';
import { href, navigate } from '../../router';
import type { PageProps } from '../../routes';
import { namesOf, STATUS_BADGE, type Certificate, type CertificatePage, type Named } from './types';

const PAGE_SIZE = 25;
const CUSTOM = 'customField.';
/** The filters the fragment's query carries (besides custom fields), as /v1/certificates names them. */
const FILTERS = ['status', 'caId', 'productId', 'expiringInDays', 'owner', 'search'] as const;
type Filters = Record<(typeof FILTERS)[number], string> & { fieldName: string; fieldValue: string };

function filtersOf(query: URLSearchParams): Filters {
  const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])) as Filters;
  const custom = [...query.keys()].find((k) => k.startsWith(CUSTOM));
  f.fieldName = custom ? custom.slice(CUSTOM.length) : '';
  f.fieldValue = custom ? (query.get(custom) ?? '') : '';
  return f;
}

/** The filters as /v1/certificates takes them (and as the fragment keeps them). */
function apiFilters(f: Filters): Query {
  const q: Query = {};
  for (const k of FILTERS) q[k] = f[k].trim();
  if (f.fieldName.trim() && f.fieldValue !== '') q[`${CUSTOM}${f.fieldName.trim()}`] = f.fieldValue;
  return q;
}

export function Inventory({ query }: PageProps) {
  const applied = filtersOf(query);
  const [draft, setDraft] = useState<Filters>(applied);
  const key = query.toString();
  useEffect(() => setDraft(filtersOf(query)), [key]);
  const sort = query.get('sort') ?? undefined;
  const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
  const filters = apiFilters(applied);

  const list = useLoad(() => api.get<CertificatePage>('/certificates', { ...filters, sort, page, pageSize: PAGE_SIZE }), [key]);
  const cas = useLoad(() => api.get<{ cas: Named[] }>('/cas').then((r) => r.cas), []);
  const products = useLoad(() => api.get<{ products: Named[] }>('/products').then((r) => r.products), []);
  const caName = (id: string | null) => (id ? (cas.data?.find((c) => c.id === id)?.name ?? id) : 'imported');
  const productName = (id: string | null) => (id ? (products.data?.find((p) => p.id === id)?.name ?? id) : '—');

  const go = (changes: Query) => navigate('/certificates', { ...filters, sort, page: page > 1 ? page : undefined, ...changes } as Record<string, string | number | undefined>);
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement | HTMLSelectElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    navigate('/certificates', { ...(apiFilters(draft) as Record<string, string>), sort });
  };
  const clear = () => navigate('/certificates', { sort });
  const filtered = Object.values(filters).some((v) => v !== '' && v !== undefined);

  const columns: Column<Certificate>[] = [
    { key: 'cn', label: 'Common name', sort: 'commonName', cell: (c) => <a href={href(`/certificates/${encodeURIComponent(c.id)}`)}>{c.common_name ?? c.id}</a> },
    { key: 'names', label: 'Names', cell: (c) => namesOf(c).join(', ') || '—' },
    { key: 'status', label: 'Status', sort: 'status', cell: (c) => <span class={`badge ${STATUS_BADGE[c.status]}`}>{c.status}</span> },
    { key: 'ca', label: 'CA', cell: (c) => caName(c.ca_id) },
    { key: 'product', label: 'Product', cell: (c) => productName(c.product_id) },
    { key: 'owner', label: 'Owner', cell: (c) => c.owner ?? '—' },
    {
      key: 'expires',
      label: 'Expires',
      sort: 'expires',
      cell: (c) => (
        <>
          {formatDate(c.valid_to)} <span class="muted">({relativeDays(c.valid_to)})</span>
        </>
      ),
    },
    { key: 'key', label: 'Key', cell: (c) => c.key_algorithm },
  ];

  return (
    <>
      <form class="filters" onSubmit={submit} aria-label="Filters">
        <Field id="f-search" label="Search">
          <input id="f-search" type="search" value={draft.search} onInput={set('search')} placeholder="Common name contains…" />
        </Field>
        <Field id="f-status" label="Status">
          <select id="f-status" value={draft.status} onChange={set('status')}>
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="expired">Expired</option>
            <option value="revoked">Revoked</option>
          </select>
        </Field>
        <Field id="f-ca" label="CA">
          <select id="f-ca" value={draft.caId} onChange={set('caId')}>
            <option value="">Any CA</option>
            {(cas.data ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-product" label="Product">
          <select id="f-product" value={draft.productId} onChange={set('productId')}>
            <option value="">Any product</option>
            {(products.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-expiring" label="Expiring within (days)">
          <input id="f-expiring" type="number" min={0} max={36500} inputMode="numeric" value={draft.expiringInDays} onInput={set('expiringInDays')} />
        </Field>
        <Field id="f-owner" label="Owner">
          <input id="f-owner" value={draft.owner} onInput={set('owner')} />
        </Field>
        <Field id="f-field-name" label="Custom field">
          <input id="f-field-name" value={draft.fieldName} onInput={set('fieldName')} placeholder="name" />
        </Field>
        <Field id="f-field-value" label="Custom field value">
          <input id="f-field-value" value={draft.fieldValue} onInput={set('fieldValue')} />
        </Field>
        <div class="actions">
          <button type="submit">Apply filters</button>
          <button type="button" class="secondary" onClick={clear} disabled={!filtered}>
            Clear filters
          </button>
        </div>
      </form>
      <div class="actions">
        <a class="button secondary" href={apiUrl('/certificates', { ...filters, sort, format: 'csv' })} download>
          Export CSV
        </a>
        <span class="muted">Every certificate these filters match, in this order.</span>
      </div>
      <ErrorMessage message={cas.error ?? products.error} />
      {list.loading && <Loading what="Loading certificates" />}
      <ErrorMessage message={list.error} onRetry={list.reload} />
      {list.data && list.data.certificates.length === 0 && !list.loading && (
        <Empty>
          <p>No certificate matches these filters.</p>
          {filtered && (
            <button type="button" class="secondary" onClick={clear}>
              Clear filters
            </button>
          )}
        </Empty>
      )}
      {list.data && list.data.certificates.length > 0 && (
        <>
          <DataTable caption="Certificates" columns={columns} rows={list.data.certificates} rowKey={(c) => c.id} sorting={{ current: sort, onSort: (s) => go({ sort: s, page: undefined }) }} />
          <Pager page={page} pageSize={PAGE_SIZE} total={list.data.total} onPage={(p) => go({ page: p > 1 ? p : undefined })} />
        </>
      )}
    </>
  );
}
