// Revoke with a reason, suspend and reinstate, renew: each opens an inline form that says what it
// does, offered only when the credential may do it (the API decides anyway; a refusal is shown).
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Notice } from '../../components/states';
import { useAction } from '../../hooks';
import { href } from '../../router';
import { useCan } from '../../session';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { saveBlob, usePanel } from './panel';
import type { Certificate } from './types';

/** The reasons REST's revoke takes (RFC 5280; certificateHold is Suspend, removeFromCRL is no reason to revoke). */
const REASONS: [string, string][] = [
  ['unspecified', 'Unspecified'],
  ['keyCompromise', 'Key compromise'],
  ['caCompromise', 'CA compromise'],
  ['affiliationChanged', 'Affiliation changed'],
  ['superseded', 'Superseded'],
  ['cessationOfOperation', 'Cessation of operation'],
  ['privilegeWithdrawn', 'Privilege withdrawn'],
  ['aaCompromise', 'AA compromise'],
];

interface Issued {
  certificate?: { id: string; common_name: string | null };
  request_id?: string;
  status?: string;
  privateKey?: string;
}

export function Lifecycle({ cert, onChanged }: { cert: Certificate; onChanged(): void }) {
  const may = useCan();
  const [done, setDone] = useState<string | null>(null);
  const [renewed, setRenewed] = useState<Issued | null>(null);
  const revokePanel = usePanel();
  const suspendPanel = usePanel();
  const renewPanel = usePanel();
  const [reason, setReason] = useState('unspecified');
  const [csrPem, setCsrPem] = useState('');
  const path = `/certificates/${encodeURIComponent(cert.id)}`;

  const revoke = useAction(() => api.post(`${path}/revoke`, { reason }));
  const suspend = useAction(() => api.post(`${path}/suspend`, {}));
  const reinstate = useAction(() => api.post(`${path}/reinstate`, {}));
  const renew = useAction(() => api.post<Issued>(`${path}/renew`, csrPem.trim() ? { csrPem: csrPem.trim() } : {}));

  if (cert.source === 'imported') return <p class="muted">An imported certificate is revoked and renewed by the CA that issued it.</p>;
  const live = cert.status === 'active';
  const suspended = cert.status === 'revoked' && cert.revocation_reason === 'certificateHold';
  const mayRevoke = may('revoke', cert.ca_id);
  const mayRenew = may('issue', cert.ca_id);
  if (!mayRevoke && !mayRenew) return <p class="muted">Your credential may read this certificate, not change it.</p>;

  const finish = (message: string, close: () => void) => {
    close();
    setDone(message);
    onChanged();
  };
  return (
    <>
      <Notice message={done} />
      <div class="actions">
        {mayRevoke && live && (
          <button type="button" class="danger" aria-expanded={revokePanel.open} aria-controls="revoke-panel" onClick={revokePanel.toggle}>
            Revoke…
          </button>
        )}
        {mayRevoke && live && (
          <button type="button" class="secondary" aria-expanded={suspendPanel.open} aria-controls="suspend-panel" onClick={suspendPanel.toggle}>
            Suspend…
          </button>
        )}
        {mayRevoke && suspended && (
          <button type="button" class="secondary" disabled={reinstate.busy} onClick={async () => (await reinstate.run()) && finish('The certificate is reinstated: valid again, off the CRL and good in OCSP.', () => undefined)}>
            Reinstate
          </button>
        )}
        {mayRenew && cert.status !== 'revoked' && (
          <button type="button" class="secondary" aria-expanded={renewPanel.open} aria-controls="renew-panel" onClick={renewPanel.toggle}>
            Renew…
          </button>
        )}
      </div>
      <ErrorMessage message={reinstate.error && `Could not reinstate: ${reinstate.error}`} />

      {revokePanel.open && (
        <ActionPanel
          id="revoke-panel"
          title="Revoke this certificate"
          level={3}
          onCancel={revokePanel.close}
          onSubmit={async () => {
            if (await revoke.run()) finish('The certificate is revoked. The CRL and OCSP say so from now on.', revokePanel.close);
          }}
        >
          <p>Revoking cannot be undone. Clients that check the CRL or OCSP will refuse the certificate.</p>
          <Field id="revoke-reason" label="Reason">
            <select id="revoke-reason" value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
              {REASONS.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
          <ErrorMessage message={revoke.error && `Could not revoke: ${revoke.error}`} />
          <PanelButtons label="Revoke certificate" danger busy={revoke.busy} onCancel={revokePanel.close} />
        </ActionPanel>
      )}

      {suspendPanel.open && (
        <ActionPanel
          id="suspend-panel"
          title="Suspend this certificate"
          level={3}
          onCancel={suspendPanel.close}
          onSubmit={async () => {
            if (await suspend.run()) finish('The certificate is suspended (certificateHold) until it is reinstated.', suspendPanel.close);
          }}
        >
          <p>A suspended certificate is on the CRL as certificateHold, and can be reinstated later.</p>
          <ErrorMessage message={suspend.error && `Could not suspend: ${suspend.error}`} />
          <PanelButtons label="Suspend certificate" busy={suspend.busy} onCancel={suspendPanel.close} />
        </ActionPanel>
      )}

      {renewPanel.open && (
        <ActionPanel
          id="renew-panel"
          title="Renew this certificate"
          level={3}
          onCancel={renewPanel.close}
          onSubmit={async () => {
            const answer = await renew.run();
            if (answer) {
              setRenewed(answer);
              finish(answer.certificate ? 'Renewed: a new certificate with the same names was issued.' : 'The renewal is waiting for approval.', renewPanel.close);
            }
          }}
        >
          <Field id="renew-csr" label="CSR (PEM)" hint="Only for a certificate issued from a CSR; a managed one gets a new key pair.">
            <textarea id="renew-csr" value={csrPem} onInput={(e) => setCsrPem((e.target as HTMLTextAreaElement).value)} aria-describedby="renew-csr-hint" />
          </Field>
          <ErrorMessage message={renew.error && `Could not renew: ${renew.error}`} />
          <PanelButtons label="Renew certificate" busy={renew.busy} onCancel={renewPanel.close} />
        </ActionPanel>
      )}

      {renewed && (
        <div class="panel">
          {renewed.certificate && (
            <p>
              The new certificate: <a href={href(`/certificates/${encodeURIComponent(renewed.certificate.id)}`)}>{renewed.certificate.common_name ?? renewed.certificate.id}</a>
            </p>
          )}
          {renewed.request_id && <p>Request {renewed.request_id} is {renewed.status ?? 'pending'}.</p>}
          {renewed.privateKey && (
            <p>
              Its private key is handed out this once:{' '}
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  saveBlob(new Blob([renewed.privateKey as string], { type: 'application/x-pem-file' }), 'private-key.pem');
                  // Saved: the page keeps no copy of the key.
                  setRenewed({ ...renewed, privateKey: undefined });
                }}
              >
                Save the private key
              </button>
            </p>
          )}
        </div>
      )}
    </>
  );
}
