// A certificate's audit history (GET /v1/certificates/:id/audit), oldest first, a page at a time.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Empty, ErrorMessage, Loading } from '../../components/states';
import { DataTable } from '../../components/table';
import { formatDateTime } from '../../format';
import { useLoad } from '../../hooks';
import type { AuditEntry } from './types';

const PAGE = 50;

const detailText = (d: Record<string, unknown>): string =>
  Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ');

export function History({ id, round }: { id: string; round: number }) {
  const [after, setAfter] = useState<number[]>([0]);
  const from = after[after.length - 1] ?? 0;
  const page = useLoad(() => api.get<{ entries: AuditEntry[]; total: number; nextAfter: number | null }>(`/certificates/${encodeURIComponent(id)}/audit`, { after: from, pageSize: PAGE }), [id, from, round]);
  if (page.loading && !page.data) return <Loading what="Loading the history" />;
  if (page.error) return <ErrorMessage message={`Could not load the history: ${page.error}`} onRetry={page.reload} />;
  const data = page.data;
  if (!data || data.total === 0) return <Empty>Nothing about this certificate is in the audit trail.</Empty>;
  return (
    <>
      <DataTable
        caption="Audit history"
        rows={data.entries}
        rowKey={(e) => String(e.seq)}
        columns={[
          { key: 'at', label: 'When', cell: (e) => formatDateTime(e.at) },
          { key: 'action', label: 'Action', cell: (e) => <code>{e.action}</code> },
          { key: 'outcome', label: 'Outcome', cell: (e) => <span class={`badge ${e.outcome === 'success' ? 'ok' : 'danger'}`}>{e.outcome}</span> },
          { key: 'actor', label: 'By', cell: (e) => `${e.actor} (${e.protocol})` },
          { key: 'detail', label: 'Detail', cell: (e) => detailText(e.detail) || '—' },
        ]}
      />
      <nav class="pager" aria-label="History pages">
        <button type="button" class="secondary" disabled={after.length <= 1} onClick={() => setAfter(after.slice(0, -1))}>
          Earlier
        </button>
        <span>{data.total} entries</span>
        <button type="button" class="secondary" disabled={data.nextAfter === null} onClick={() => data.nextAfter !== null && setAfter([...after, data.nextAfter])}>
          Later
        </button>
      </nav>
    </>
  );
}
