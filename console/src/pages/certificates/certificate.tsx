// A certificate's page: what it is (subject, names, serial, validity, key, CA, product, status,
// fingerprints, who asked for it), what may be done with it (revoke, suspend, renew, downloads,
// fields, locations, each offered as the credential allows) and its audit history.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { ErrorMessage, Loading } from '../../components/states';
import { formatDateTime, relativeDays } from '../../format';
import { useLoad } from '../../hooks';
import { href } from '../../router';
import type { PageProps } from '../../routes';
import { useCan } from '../../session';
import { Chain } from './chain';
import { Downloads } from './downloads';
import { EditFields } from './fields';
import { History } from './history';
import { Lifecycle } from './lifecycle';
import { Locations } from './locations';
import { namesOf, STATUS_BADGE, type Certificate, type Named } from './types';

export function CertificateDetail({ params }: PageProps) {
  const id = params.id as string;
  const may = useCan();
  // Bumped on every change, so the history shows it.
  const [round, setRound] = useState(0);
  const cert = useLoad(() => api.get<Certificate>(`/certificates/${encodeURIComponent(id)}`), [id, round]);
  const chain = useLoad(async () => {
    // pkijs is most of the console's code: loaded when a certificate's page first needs it.
    const [{ factsOf, pemCertificates }, pem] = await Promise.all([import('./x509'), api.text(`/certificates/${encodeURIComponent(id)}/download`, { format: 'chain' })]);
    return Promise.all(pemCertificates(pem).map(factsOf));
  }, [id]);
  const cas = useLoad(() => api.get<{ cas: Named[] }>('/cas').then((r) => r.cas), []);
  const products = useLoad(() => api.get<{ products: Named[] }>('/products').then((r) => r.products), []);
  const requestId = cert.data?.request_id ?? null;
  // The requester is the request's; a credential that may not see the request just does not learn it.
  const request = useLoad(() => (requestId ? api.get<{ requester: string }>(`/requests/${encodeURIComponent(requestId)}`).catch(() => null) : Promise.resolve(null)), [requestId]);
  const changed = () => setRound((r) => r + 1);

  if (cert.loading && !cert.data) return <Loading what="Loading the certificate" />;
  if (!cert.data) return <ErrorMessage message={`Could not open this certificate: ${cert.error ?? 'no answer'}`} onRetry={cert.reload} />;
  const c = cert.data;
  const leaf = chain.data?.[0];
  const mayEdit = may('issue', c.ca_id);
  const caName = c.ca_id ? (cas.data?.find((x) => x.id === c.ca_id)?.name ?? c.ca_id) : 'imported (no CA here)';
  const productName = c.product_id ? (products.data?.find((x) => x.id === c.product_id)?.name ?? c.product_id) : '—';
  return (
    <>
      <p>
        <a href={href('/certificates')}>← Back to the inventory</a>
      </p>
      <h2 class="cert-title">
        {c.common_name ?? c.id} <span class={`badge ${STATUS_BADGE[c.status]}`}>{c.status}</span>
      </h2>
      <div class="grid">
        <section class="panel" aria-labelledby="details-h">
          <h2 id="details-h">Details</h2>
          <dl class="facts">
            <dt>Subject</dt>
            <dd>{leaf?.subject ?? (c.common_name ? `CN=${c.common_name}` : '—')}</dd>
            <dt>Names</dt>
            <dd>{namesOf(c).join(', ') || '—'}</dd>
            <dt>Serial number</dt>
            <dd class="mono">{c.serial_number}</dd>
            <dt>Valid from</dt>
            <dd>{formatDateTime(c.valid_from)}</dd>
            <dt>Valid to</dt>
            <dd>
              {formatDateTime(c.valid_to)} ({relativeDays(c.valid_to)})
            </dd>
            <dt>Key algorithm</dt>
            <dd>{c.key_algorithm}</dd>
            <dt>CA</dt>
            <dd>{c.source === 'imported' ? `${caName}: ${c.issuer ?? ''}` : caName}</dd>
            <dt>Product</dt>
            <dd>{productName}</dd>
            <dt>Status</dt>
            <dd>
              <span class={`badge ${STATUS_BADGE[c.status]}`}>{c.status}</span>
              {c.revoked_at && ` since ${formatDateTime(c.revoked_at)}, reason ${c.revocation_reason ?? 'unspecified'}`}
            </dd>
            <dt>SHA-256 fingerprint</dt>
            <dd class="mono">{leaf?.sha256 ?? '…'}</dd>
            <dt>SHA-1 fingerprint</dt>
            <dd class="mono">{leaf?.sha1 ?? '…'}</dd>
            <dt>Requested by</dt>
            <dd>{request.data?.requester ?? '—'}</dd>
            <dt>Created</dt>
            <dd>{formatDateTime(c.created_at)}</dd>
            {c.supersedes && (
              <>
                <dt>Renews</dt>
                <dd>
                  <a href={href(`/certificates/${encodeURIComponent(c.supersedes)}`)}>{c.supersedes}</a>
                </dd>
              </>
            )}
            {c.renewed_by && (
              <>
                <dt>Renewed by</dt>
                <dd>{c.renewed_by}</dd>
              </>
            )}
          </dl>
        </section>
        <section class="panel" aria-labelledby="actions-h">
          <h2 id="actions-h">Actions</h2>
          <Lifecycle key={c.id} cert={c} onChanged={changed} />
          <h3>Download</h3>
          <Downloads key={c.id} cert={c} onChanged={changed} />
        </section>
      </div>
      <div class="grid">
        <section class="panel" aria-labelledby="fields-h">
          <h2 id="fields-h">Owner, notes and custom fields</h2>
          <EditFields key={c.id} cert={c} mayEdit={mayEdit} onChanged={changed} />
        </section>
        <section class="panel" aria-labelledby="locations-h">
          <h2 id="locations-h">Deployment locations</h2>
          <Locations key={c.id} id={c.id} mayEdit={mayEdit} onChanged={changed} />
        </section>
      </div>
      <section aria-labelledby="chain-h">
        <h2 id="chain-h">Chain</h2>
        <Chain chain={chain} />
      </section>
      <section aria-labelledby="history-h">
        <h2 id="history-h">Audit history</h2>
        <History key={c.id} id={c.id} round={round} />
      </section>
    </>
  );
}
