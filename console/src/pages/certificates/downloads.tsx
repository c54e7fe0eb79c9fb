// The certificate as a file, in every format /v1/certificates/:id/download offers: plain links for
// PEM, DER, the chain and PKCS#7; PKCS#12 (the escrowed key) is a POST with a password, so a form.
import { useState } from 'preact/hooks';
import { api, apiUrl } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Notice } from '../../components/states';
import { useAction } from '../../hooks';
import { useCan } from '../../session';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { saveBlob, usePanel } from './panel';
import type { Certificate } from './types';

const FORMATS: [format: string, label: string][] = [
  ['pem', 'PEM'],
  ['der', 'DER'],
  ['chain', 'PEM with chain'],
  ['pkcs7', 'PKCS#7'],
];

export function Downloads({ cert, onChanged }: { cert: Certificate; onChanged(): void }) {
  const may = useCan();
  const panel = usePanel();
  const [password, setPassword] = useState('');
  const [saved, setSaved] = useState<string | null>(null);
  const path = `/certificates/${encodeURIComponent(cert.id)}/download`;
  // Closed, the panel keeps no password.
  const cancelPkcs12 = () => {
    setPassword('');
    panel.close();
  };
  const pkcs12 = useAction(() => api.file(path, { format: 'pkcs12', password }, 'application/x-pkcs12', 'certificate.p12'));
  const mayExport = cert.source === 'issued' && (may('exportKeys', cert.ca_id) || may('exportAnyKeys', cert.ca_id));
  return (
    <>
      <div class="actions">
        {FORMATS.map(([format, label]) => (
          <a key={format} class="button secondary" href={apiUrl(path, { format })} download>
            {label}
          </a>
        ))}
        {mayExport && (
          <button type="button" class="secondary" aria-expanded={panel.open} aria-controls="pkcs12-panel" onClick={panel.toggle}>
            PKCS#12 with key…
          </button>
        )}
      </div>
      <Notice message={saved} />
      {panel.open && (
        <ActionPanel
          id="pkcs12-panel"
          title="Download with the private key (PKCS#12)"
          level={3}
          onCancel={cancelPkcs12}
          onSubmit={async () => {
            const file = await pkcs12.run();
            if (file) {
              saveBlob(file.blob, file.name);
              setPassword('');
              panel.close();
              setSaved(`Saved ${file.name}. The download is recorded in the audit trail.`);
              onChanged();
            }
          }}
        >
          <p>Only a certificate whose key was escrowed has one to give. The password protects the file; it is not kept.</p>
          <Field id="pkcs12-password" label="File password" hint="At least 4 characters.">
            <input id="pkcs12-password" type="password" autoComplete="new-password" minLength={4} required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} aria-describedby="pkcs12-password-hint" />
          </Field>
          <ErrorMessage message={pkcs12.error && `Could not download the key: ${pkcs12.error}`} />
          <PanelButtons label="Download PKCS#12" busy={pkcs12.busy} disabled={password.length < 4} onCancel={cancelPkcs12} />
        </ActionPanel>
      )}
    </>
  );
}
