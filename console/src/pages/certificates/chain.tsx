// The certificate and the CA certificates above it, as the API downloads them (format=chain):
// each one's subject, issuer and expiry, and its PEM.
import { ErrorMessage, Loading } from '../../components/states';
import { formatDate, relativeDays } from '../../format';
import type { Loaded } from '../../hooks';
import type { CertificateFacts } from './x509';

export function Chain({ chain }: { chain: Loaded<CertificateFacts[]> }) {
  if (chain.loading && !chain.data) return <Loading what="Loading the chain" />;
  if (chain.error) return <ErrorMessage message={`Could not load the chain: ${chain.error}`} onRetry={chain.reload} />;
  return (
    <ol class="chain">
      {(chain.data ?? []).map((c, i) => (
        <li key={c.sha256} class="panel">
          <h3>{i === 0 ? 'This certificate' : i === (chain.data?.length ?? 0) - 1 ? 'Root CA' : 'Issuing CA'}</h3>
          <dl class="facts">
            <dt>Subject</dt>
            <dd>{c.subject}</dd>
            <dt>Issuer</dt>
            <dd>{c.issuer}</dd>
            <dt>Expires</dt>
            <dd>
              {formatDate(c.notAfter)} ({relativeDays(c.notAfter)})
            </dd>
          </dl>
          <details>
            <summary>PEM</summary>
            <pre>{c.pem}</pre>
          </details>
        </li>
      ))}
    </ol>
  );
}
