// The request queue (#/requests) and one request (#/requests/:id): what waits for an approver, and
// the decision; a request's reason, its domain validation and, once issued, its certificate.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Loading, Notice } from '../../components/states';
import { DataTable, Pager, type Column } from '../../components/table';
import { formatDateTime } from '../../format';
import { useLoad } from '../../hooks';
import { href, navigate } from '../../router';
import type { PageProps } from '../../routes';
import { useCan, useSession } from '../../session';
import { DeclinePanel, DecisionButtons, requestLabel, useApprove } from './decision';
import { AuditHistory, Listing, type Paged, type RequestJson, StatusBadge, useCatalogue, wordsOf } from './shared';

const STATUSES = ['pending_approval', 'pending_dcv', 'queued', 'issued', 'rejected', 'failed', 'all'] as const;
const PAGE_SIZE = 20;

/** `apikey:<id>` of the signed-in credential reads "you". */
function useRequesterName(): (requester: string) => string {
  const { whoami } = useSession();
  return (requester) => (requester === `apikey:${whoami.apiKey.id}` ? `you (${whoami.apiKey.name})` : requester);
}

export function RequestsPage({ query }: PageProps) {
  const status = query.get('status') ?? 'pending_approval';
  const caId = query.get('caId') ?? '';
  const productId = query.get('productId') ?? '';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const state = { status, caId, productId, page };
  const go = (change: Partial<typeof state>) => navigate('/requests', { ...state, page: 1, ...change, ...(change.status === 'pending_approval' ? { status: undefined } : {}) });

  const catalogue = useCatalogue();
  const may = useCan();
  const requester = useRequesterName();
  const list = useLoad(
    () => api.get<{ requests: RequestJson[] } & Paged>('/requests', { status: status === 'all' ? undefined : status, caId, productId, page, pageSize: PAGE_SIZE }),
    [status, caId, productId, page],
  );
  const [notice, setNotice] = useState<string | null>(null);
  const [declining, setDeclining] = useState<RequestJson | null>(null);
  const decided = (message: string) => {
    setNotice(message);
    setDeclining(null);
    list.reload();
  };
  const approve = useApprove(decided);

  const columns: Column<RequestJson>[] = [
    { key: 'names', label: 'Names', cell: (r) => <a href={href(`/requests/${r.id}`)}>{r.names.length ? r.names.join(', ') : r.id}</a> },
    { key: 'product', label: 'Product', cell: (r) => catalogue.productName(r.product_id) },
    { key: 'ca', label: 'CA', cell: (r) => catalogue.caName(r.ca_id) },
    { key: 'requester', label: 'Requester', cell: (r) => requester(r.requester) },
    { key: 'submitted', label: 'Submitted', cell: (r) => formatDateTime(r.created_at) },
    { key: 'status', label: 'Status', cell: (r) => <StatusBadge status={r.status} /> },
    {
      key: 'decision',
      label: 'Decision',
      cell: (r) =>
        r.status === 'pending_approval' && may('approve', r.ca_id) ? (
          <DecisionButtons request={r} declining={declining?.id === r.id} approve={approve} onDecline={() => setDeclining(declining?.id === r.id ? null : r)} />
        ) : r.status === 'pending_approval' ? (
          'Waiting for an approver'
        ) : (
          '—'
        ),
    },
  ];

  return (
    <>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter requests">
        <Field id="req-status" label="Status">
          <select id="req-status" value={status} onChange={(e) => go({ status: (e.target as HTMLSelectElement).value })}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === 'all' ? 'All' : wordsOf(s)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="req-ca" label="CA">
          <select id="req-ca" value={caId} onChange={(e) => go({ caId: (e.target as HTMLSelectElement).value })}>
            <option value="">All CAs</option>
            {catalogue.cas.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </Field>
        <Field id="req-product" label="Product">
          <select id="req-product" value={productId} onChange={(e) => go({ productId: (e.target as HTMLSelectElement).value })}>
            <option value="">All products</option>
            {catalogue.products.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
      </form>
      <Notice message={notice} />
      <ErrorMessage message={approve.error ? `Could not approve: ${approve.error}` : null} />
      {declining && <DeclinePanel key={declining.id} request={declining} onCancel={() => setDeclining(null)} onDeclined={decided} />}
      <Listing loaded={list} what="the requests" isEmpty={(d) => d.requests.length === 0} empty={status === 'pending_approval' ? 'Nothing waits for approval.' : 'No request matches these filters.'}>
        {(d) => (
          <>
            <DataTable caption={`Requests: ${status === 'all' ? 'all' : wordsOf(status)}`} columns={columns} rows={d.requests} rowKey={(r) => r.id} />
            <Pager page={page} pageSize={PAGE_SIZE} total={d.total} onPage={(p) => navigate('/requests', { ...state, page: p })} />
          </>
        )}
      </Listing>
    </>
  );
}

interface DcvAnswer {
  request_status: string;
  names: { name: string; covered: boolean; status: string; method: string | null; token: string; last_error: string | null; validated_at: string | null; challenges: unknown }[];
}

function DcvBlock({ id }: { id: string }) {
  const dcv = useLoad(() => api.get<DcvAnswer>(`/requests/${id}/dcv`), [id]);
  if (dcv.loading) return <Loading what="Loading domain validation" />;
  if (dcv.error) return <ErrorMessage message={`Could not load the domain validation: ${dcv.error}`} onRetry={dcv.reload} />;
  if (!dcv.data || dcv.data.names.length === 0) return null;
  return (
    <section class="panel ops">
      <h2>Domain validation</h2>
      <DataTable
        caption="Domain validation per name"
        rows={dcv.data.names}
        rowKey={(n) => n.name}
        columns={[
          { key: 'name', label: 'Name', cell: (n) => n.name },
          { key: 'covered', label: 'Covered', cell: (n) => (n.covered ? 'yes' : 'no') },
          { key: 'status', label: 'Validation', cell: (n) => <StatusBadge status={n.status} /> },
          { key: 'method', label: 'Method', cell: (n) => n.method ?? '—' },
          { key: 'validated', label: 'Validated', cell: (n) => formatDateTime(n.validated_at) },
          { key: 'token', label: 'Token', cell: (n) => <code>{n.token}</code> },
          { key: 'error', label: 'Last error', cell: (n) => n.last_error ?? '—' },
        ]}
      />
    </section>
  );
}

export function RequestPage({ params }: PageProps) {
  const id = params.id as string;
  const request = useLoad(() => api.get<RequestJson>(`/requests/${id}`), [id]);
  const catalogue = useCatalogue();
  const may = useCan();
  const { whoami } = useSession();
  const requester = useRequesterName();
  const [notice, setNotice] = useState<string | null>(null);
  const [declining, setDeclining] = useState(false);
  const decided = (message: string) => {
    setNotice(message);
    setDeclining(false);
    request.reload();
  };
  const approve = useApprove(decided);

  if (request.loading && !request.data) return <Loading what="Loading the request" />;
  if (request.error || !request.data) return <ErrorMessage message={`Could not load request ${id}: ${request.error ?? 'no answer'}`} onRetry={request.reload} />;
  const r = request.data;
  const reason = r.rejection?.detail ?? r.status_reason;
  return (
    <>
      <p>
        <a href={href('/requests')}>Back to the requests</a>
      </p>
      <Notice message={notice} />
      <section class="panel ops">
        <h2>{requestLabel(r)}</h2>
        <dl class="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={r.status} />
          </dd>
          {reason && (
            <>
              <dt>Reason</dt>
              <dd>{reason}</dd>
            </>
          )}
          <dt>Names</dt>
          <dd>{r.names.join(', ') || '—'}</dd>
          <dt>Product</dt>
          <dd>{catalogue.productName(r.product_id)}</dd>
          <dt>CA</dt>
          <dd>{catalogue.caName(r.ca_id)}</dd>
          <dt>Requester</dt>
          <dd>{requester(r.requester)}</dd>
          <dt>Came through</dt>
          <dd>{r.protocol}</dd>
          <dt>Key</dt>
          <dd>{r.key_source === 'managed' ? 'generated by certgate' : "the requester's CSR"}</dd>
          <dt>Submitted</dt>
          <dd>{formatDateTime(r.created_at)}</dd>
          <dt>Last change</dt>
          <dd>{formatDateTime(r.updated_at)}</dd>
          {r.approved_by && (
            <>
              <dt>Approved by</dt>
              <dd>{r.approved_by}</dd>
            </>
          )}
          {r.supersedes && (
            <>
              <dt>Replaces</dt>
              <dd>
                <a href={href(`/certificates/${r.supersedes}`)}>certificate {r.supersedes}</a>
              </dd>
            </>
          )}
          {r.certificate_id && (
            <>
              <dt>Certificate</dt>
              <dd>
                <a href={href(`/certificates/${r.certificate_id}`)}>Open the certificate</a>
              </dd>
            </>
          )}
          <dt>Request id</dt>
          <dd class="mono">{r.id}</dd>
        </dl>
        {r.status === 'pending_approval' && may('approve', r.ca_id) && <DecisionButtons request={r} declining={declining} approve={approve} onDecline={() => setDeclining(!declining)} />}
        <ErrorMessage message={approve.error ? `Could not approve: ${approve.error}` : null} />
      </section>
      {declining && <DeclinePanel request={r} onCancel={() => setDeclining(false)} onDeclined={decided} />}
      {r.status === 'pending_dcv' || may('read', r.ca_id) ? <DcvBlock id={r.id} /> : null}
      {whoami.admin && <AuditHistory filter={{ target: r.id }} caption="The request's history" />}
    </>
  );
}
