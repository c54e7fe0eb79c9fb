// The audit trail (#/audit, admin): entries filtered by actor, action, target and time, paged, and
// the verdict of the hash chain's check.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Loading } from '../../components/states';
import { DataTable, Pager, type Column } from '../../components/table';
import { formatDateTime } from '../../format';
import { useLoad } from '../../hooks';
import { navigate } from '../../router';
import type { PageProps } from '../../routes';
import { type AuditEntryJson, inputValue, Listing, type Paged, StatusBadge } from './shared';

interface Verdict {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  broken?: { kind: string; seq: number; detail: string };
  checkpoint?: { seq: number; at: string; ok: boolean; broken?: { kind: string; seq: number; detail: string } };
}

const PAGE_SIZE = 50;
const FILTERS = ['actor', 'action', 'target', 'from', 'to'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** A datetime-local value (the browser's time zone) as the API's ISO time; the reverse for the input. */
const toIso = (local: string): string => (local ? new Date(local).toISOString() : '');
const toLocal = (iso: string): string => {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function VerifyPanel() {
  const verdict = useLoad(() => api.get<Verdict>('/audit/verify'), []);
  return (
    <section class="panel ops" aria-labelledby="verify-heading">
      <h2 id="verify-heading">Integrity of the trail</h2>
      {verdict.loading ? (
        <Loading what="Checking the hash chain" />
      ) : verdict.error ? (
        <ErrorMessage message={`Could not check the trail: ${verdict.error}`} onRetry={verdict.reload} />
      ) : verdict.data?.ok ? (
        <p role="status">
          <span class="badge ok">OK</span> All {verdict.data.entries} entries verify: none was altered, removed or reordered{verdict.data.checkpoint ? `, and the trail still holds the checkpoint of ${formatDateTime(verdict.data.checkpoint.at)}` : ''}.
        </p>
      ) : verdict.data ? (
        <div role="alert">
          <p>
            <span class="badge danger">Broken</span> {verdict.data.broken ? `Entry ${verdict.data.broken.seq} (${verdict.data.broken.kind}): ${verdict.data.broken.detail}` : ''}
          </p>
          {verdict.data.checkpoint?.broken && (
            <p>
              Checkpoint ({verdict.data.checkpoint.broken.kind}): {verdict.data.checkpoint.broken.detail}
            </p>
          )}
          <p>The trail cannot be trusted past this point: keep the database as it is and tell whoever guards this deployment.</p>
        </div>
      ) : null}
      <button type="button" class="secondary" disabled={verdict.loading} onClick={verdict.reload}>
        Verify now
      </button>
    </section>
  );
}

const detailText = (detail: unknown): string => (detail === null || detail === undefined ? '—' : typeof detail === 'string' ? detail : JSON.stringify(detail));

export function AuditPage({ query }: PageProps) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, query.get(f) ?? ''])) as Filters;
  const page = Math.max(1, Number(query.get('page')) || 1);
  const [draft, setDraft] = useState<Filters>(filters);
  const list = useLoad(() => api.get<{ entries: AuditEntryJson[] } & Paged>('/audit', { ...filters, page, pageSize: PAGE_SIZE }), [...FILTERS.map((f) => filters[f]), page]);
  const set = (f: keyof Filters) => (e: Event) => setDraft({ ...draft, [f]: inputValue(e) });

  const columns: Column<AuditEntryJson>[] = [
    { key: 'seq', label: '#', numeric: true, cell: (e) => e.seq },
    { key: 'at', label: 'When', cell: (e) => formatDateTime(e.at) },
    { key: 'actor', label: 'Actor', cell: (e) => <span class="mono">{e.actor}</span> },
    { key: 'protocol', label: 'Through', cell: (e) => e.protocol },
    { key: 'action', label: 'Action', cell: (e) => e.action },
    { key: 'target', label: 'Target', cell: (e) => <span class="mono">{e.target ?? '—'}</span> },
    { key: 'outcome', label: 'Outcome', cell: (e) => <StatusBadge status={e.outcome} /> },
    { key: 'detail', label: 'Detail', cell: (e) => <span class="audit-detail">{detailText(e.detail)}</span> },
  ];

  return (
    <>
      <VerifyPanel />
      <form
        class="filters"
        aria-label="Filter the audit trail"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('/audit', draft);
        }}
      >
        <Field id="audit-actor" label="Actor">
          <input id="audit-actor" value={draft.actor} onInput={set('actor')} />
        </Field>
        <Field id="audit-action" label="Action">
          <input id="audit-action" value={draft.action} onInput={set('action')} />
        </Field>
        <Field id="audit-target" label="Target">
          <input id="audit-target" value={draft.target} onInput={set('target')} />
        </Field>
        <Field id="audit-from" label="From">
          <input id="audit-from" type="datetime-local" value={toLocal(draft.from)} onInput={(e) => setDraft({ ...draft, from: toIso(inputValue(e)) })} />
        </Field>
        <Field id="audit-to" label="To">
          <input id="audit-to" type="datetime-local" value={toLocal(draft.to)} onInput={(e) => setDraft({ ...draft, to: toIso(inputValue(e)) })} />
        </Field>
        <div class="field">
          <button type="submit">Filter</button>
        </div>
      </form>
      <Listing loaded={list} what="the audit trail" isEmpty={(d) => d.entries.length === 0} empty="No entry matches these filters.">
        {(d) => (
          <>
            <DataTable caption="Audit entries, newest first" columns={columns} rows={d.entries} rowKey={(e) => String(e.seq)} />
            <Pager page={page} pageSize={PAGE_SIZE} total={d.total} onPage={(p) => navigate('/audit', { ...filters, page: p })} />
          </>
        )}
      </Listing>
    </>
  );
}
