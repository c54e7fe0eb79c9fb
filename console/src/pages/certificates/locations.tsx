// Where the certificate is deployed (host, port, path, kind): listed, added, edited and removed.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { Empty, ErrorMessage, Loading, Notice } from '../../components/states';
import { DataTable } from '../../components/table';
import { formatDateTime } from '../../format';
import { useAction, useLoad } from '../../hooks';
import { ActionPanel, PanelButtons } from '../../components/panel';
import type { DeploymentLocation } from './types';

type Draft = { host: string; port: string; path: string; kind: string; notes: string };
const EMPTY: Draft = { host: '', port: '', path: '', kind: 'server', notes: '' };

const bodyOf = (d: Draft) => ({ host: d.host.trim(), port: d.port.trim() ? Number(d.port) : null, path: d.path.trim() || null, kind: d.kind.trim(), notes: d.notes.trim() || null });

export function Locations({ id, mayEdit, onChanged }: { id: string; mayEdit: boolean; onChanged(): void }) {
  const base = `/certificates/${encodeURIComponent(id)}/locations`;
  const list = useLoad(() => api.get<{ locations: DeploymentLocation[] }>(base).then((r) => r.locations), [id]);
  // null: no form; '': adding; an id: editing that one.
  const [editing, setEditing] = useState<string | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [done, setDone] = useState<string | null>(null);
  const save = useAction(() => (editing ? api.put(`${base}/${encodeURIComponent(editing)}`, bodyOf(draft)) : api.post(base, bodyOf(draft))));
  const remove = useAction(async (locationId: string) => {
    await api.del(`${base}/${encodeURIComponent(locationId)}`);
    return true;
  });
  const changed = (message: string) => {
    setDone(message);
    list.reload();
    onChanged();
  };
  const open = (l?: DeploymentLocation) => {
    save.clearError();
    setDraft(l ? { host: l.host, port: l.port === null ? '' : String(l.port), path: l.path ?? '', kind: l.kind, notes: l.notes ?? '' } : EMPTY);
    setEditing(l ? l.id : '');
  };
  const set = (k: keyof Draft) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });

  return (
    <>
      <Notice message={done} />
      {list.loading && !list.data && <Loading what="Loading locations" />}
      <ErrorMessage message={list.error && `Could not load the locations: ${list.error}`} onRetry={list.reload} />
      <ErrorMessage message={remove.error && `Could not remove the location: ${remove.error}`} />
      {list.data && list.data.length === 0 && <Empty>No deployment location is recorded for this certificate.</Empty>}
      {list.data && list.data.length > 0 && (
        <DataTable
          caption="Deployment locations"
          rows={list.data}
          rowKey={(l) => l.id}
          columns={[
            { key: 'host', label: 'Host', cell: (l) => `${l.host}${l.port ? `:${l.port}` : ''}` },
            { key: 'path', label: 'Path', cell: (l) => l.path ?? '—' },
            { key: 'kind', label: 'Kind', cell: (l) => l.kind },
            { key: 'notes', label: 'Notes', cell: (l) => l.notes ?? '—' },
            { key: 'updated', label: 'Updated', cell: (l) => formatDateTime(l.updated_at) },
            ...(mayEdit
              ? [
                  {
                    key: 'do',
                    label: 'Actions',
                    cell: (l: DeploymentLocation) =>
                      removing === l.id ? (
                        <span class="actions">
                          <button
                            type="button"
                            class="danger"
                            disabled={remove.busy}
                            onClick={async () => {
                              if (await remove.run(l.id)) {
                                setRemoving(null);
                                changed(`Location ${l.host} removed.`);
                              }
                            }}
                          >
                            Remove location {l.host}
                          </button>
                          <button type="button" class="secondary" onClick={() => setRemoving(null)}>
                            Cancel
                          </button>
                        </span>
                      ) : (
                        <span class="actions">
                          <button type="button" class="secondary" aria-expanded={editing === l.id} aria-controls="location-panel" onClick={() => open(l)}>
                            Edit <span class="visually-hidden">{l.host}</span>
                          </button>
                          <button type="button" class="secondary" onClick={() => setRemoving(l.id)}>
                            Remove <span class="visually-hidden">{l.host}</span>
                          </button>
                        </span>
                      ),
                  },
                ]
              : []),
          ]}
        />
      )}
      {mayEdit && editing === null && (
        <div class="actions">
          <button type="button" class="secondary" aria-expanded={false} aria-controls="location-panel" onClick={() => open()}>
            Add a location…
          </button>
        </div>
      )}
      {editing !== null && (
        <ActionPanel
          id="location-panel"
          title={editing ? 'Edit the location' : 'Add a location'}
          level={3}
          onCancel={() => setEditing(null)}
          onSubmit={async () => {
            if (await save.run()) {
              const message = editing ? `Location ${draft.host} saved.` : `Location ${draft.host} added.`;
              setEditing(null);
              changed(message);
            }
          }}
        >
          <div class="grid">
            <Field id="loc-host" label="Host">
              <input id="loc-host" required value={draft.host} onInput={set('host')} />
            </Field>
            <Field id="loc-port" label="Port">
              <input id="loc-port" type="number" min={1} max={65535} inputMode="numeric" value={draft.port} onInput={set('port')} />
            </Field>
            <Field id="loc-path" label="Path">
              <input id="loc-path" value={draft.path} onInput={set('path')} />
            </Field>
            <Field id="loc-kind" label="Kind" hint="server, load-balancer, appliance…">
              <input id="loc-kind" required value={draft.kind} onInput={set('kind')} aria-describedby="loc-kind-hint" />
            </Field>
          </div>
          <Field id="loc-notes" label="Notes">
            <textarea id="loc-notes" value={draft.notes} onInput={set('notes')} />
          </Field>
          <ErrorMessage message={save.error && `Could not save the location: ${save.error}`} />
          <PanelButtons label={editing ? 'Save location' : 'Add location'} busy={save.busy} onCancel={() => setEditing(null)} />
        </ActionPanel>
      )}
    </>
  );
}
