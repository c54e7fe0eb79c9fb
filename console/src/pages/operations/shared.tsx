// What the operations pages share: the API's shapes they read, status badges, the lists behind the
// filters, and the inline panel that a consequential action opens before it is confirmed.
import type { ComponentChildren } from 'preact';
import { api } from '../../api';
import { Empty, ErrorMessage, Loading } from '../../components/states';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { DataTable } from '../../components/table';
import { formatDateTime } from '../../format';
import { useAction, useLoad, type Loaded } from '../../hooks';

export interface RequestJson {
  id: string;
  names: string[];
  product_id: string;
  ca_id: string;
  protocol: string;
  requester: string;
  status: string;
  status_reason: string | null;
  rejection?: { code: string; rule: string; detail: string; sub?: { identifier: string; detail: string }[] };
  certificate_id: string | null;
  approved_by: string | null;
  key_source: 'csr' | 'managed';
  supersedes: string | null;
  created_at: string;
  updated_at: string;
}

export interface Paged {
  total: number;
  page: number;
  pageSize: number;
  totalPages: number;
}

export interface AuditEntryJson {
  seq: number;
  at: string;
  actor: string;
  protocol: string;
  source_ip: string | null;
  action: string;
  target: string | null;
  outcome: string;
  detail: unknown;
}

const TONE: Record<string, 'ok' | 'warn' | 'danger' | ''> = {
  issued: 'ok',
  active: 'ok',
  valid: 'ok',
  success: 'ok',
  pending_approval: 'warn',
  pending_dcv: 'warn',
  pending: 'warn',
  validating: 'warn',
  queued: '',
  signing: '',
  rejected: 'danger',
  failed: 'danger',
  revoked: 'danger',
  expired: 'danger',
  disabled: 'warn',
  denied: 'danger',
  failure: 'danger',
  refused: 'danger',
};

/** "pending_approval" as a person reads it: "pending approval". */
export const wordsOf = (status: string): string => status.replace(/_/g, ' ');

export const StatusBadge = ({ status }: { status: string }) => <span class={`badge ${TONE[status] ?? ''}`.trim()}>{wordsOf(status)}</span>;

/** Products and CAs by id, for the filters and to show names instead of ids; empty when the credential may read none. */
export function useCatalogue(): { products: { id: string; name: string; ca_id: string }[]; cas: { id: string; name: string }[]; productName(id: string): string; caName(id: string): string } {
  const products = useLoad(() => api.get<{ products: { id: string; name: string; ca_id: string }[] }>('/products').then((r) => r.products), []);
  const cas = useLoad(() => api.get<{ cas: { id: string; name: string }[] }>('/cas').then((r) => r.cas), []);
  const p = products.data ?? [];
  const c = cas.data ?? [];
  return {
    products: p,
    cas: c,
    productName: (id) => p.find((x) => x.id === id)?.name ?? id,
    caName: (id) => c.find((x) => x.id === id)?.name ?? id,
  };
}

/** A panel that asks to confirm one change, which its children explain; the change's refusal is shown in it. */
export function ConfirmPanel(props: { id: string; title: string; what: string; label: string; busyLabel: string; act(): Promise<void>; onCancel(): void; children: ComponentChildren }) {
  const action = useAction(props.act);
  return (
    <ActionPanel id={props.id} title={props.title} onCancel={props.onCancel}>
      {props.children}
      <ErrorMessage message={action.error ? `Could not ${props.what}: ${action.error}` : null} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <PanelButtons label={props.label} busyLabel={props.busyLabel} busy={action.busy} danger onCancel={props.onCancel} />
      </form>
    </ActionPanel>
  );
}

/** A list's states: loading, its error, empty, else what `children` draws of its data. */
export function Listing<D>({ loaded, what, isEmpty, empty, children }: { loaded: Loaded<D>; what: string; isEmpty(data: D): boolean; empty: ComponentChildren; children(data: D): ComponentChildren }) {
  if (loaded.loading && !loaded.data) return <Loading what={`Loading ${what}`} />;
  if (loaded.error) return <ErrorMessage message={`Could not load ${what}: ${loaded.error}`} onRetry={loaded.reload} />;
  if (!loaded.data) return null;
  if (isEmpty(loaded.data)) return <Empty>{empty}</Empty>;
  return <>{children(loaded.data)}</>;
}

/** The value of a text filter's input, as the fragment's query keeps it. */
export const inputValue = (e: Event): string => (e.target as HTMLInputElement).value;

const HISTORY_SIZE = 50;

/** The latest audit entries of a request or a credential (admins read the trail), newest first as the trail lists them. */
export function AuditHistory({ filter, title = 'History', caption }: { filter: { target?: string; actor?: string }; title?: string; caption: string }) {
  const key = JSON.stringify(filter);
  const trail = useLoad(() => api.get<{ entries: AuditEntryJson[]; total: number }>('/audit', { ...filter, pageSize: HISTORY_SIZE }), [key]);
  return (
    <section>
      <h2>{title}</h2>
      <Listing loaded={trail} what="the history" isEmpty={(d) => d.entries.length === 0} empty="The audit trail has no entry for this yet.">
        {(d) => (
          <>
            {d.total > d.entries.length && (
              <p>
                The latest {d.entries.length} of {d.total} entries; the audit page has them all.
              </p>
            )}
            <DataTable
              caption={caption}
              rows={d.entries}
              rowKey={(e) => String(e.seq)}
              columns={[
                { key: 'at', label: 'When', cell: (e) => formatDateTime(e.at) },
                { key: 'action', label: 'Action', cell: (e) => e.action },
                { key: 'actor', label: 'By', cell: (e) => `${e.actor} (${e.protocol})` },
                { key: 'target', label: 'Target', cell: (e) => <span class="mono">{e.target ?? '—'}</span> },
                { key: 'outcome', label: 'Outcome', cell: (e) => <StatusBadge status={e.outcome} /> },
              ]}
            />
          </>
        )}
      </Listing>
    </section>
  );
}
