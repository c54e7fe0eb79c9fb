// One product: what it allows, for every reader; an admin edits it from here.
import { api } from '../../api';
import { ErrorMessage, Loading, Notice } from '../../components/states';
import { formatDateTime } from '../../format';
import { useLoad } from '../../hooks';
import { href } from '../../router';
import type { PageProps } from '../../routes';
import { useSession } from '../../session';
import { yesNo, type Ca, type Product, type Template } from './types';

const list = (items: string[], none = 'none') => (items.length ? items.join(', ') : none);

export function ProductPage({ params, query }: PageProps) {
  const { whoami } = useSession();
  const data = useLoad(async () => {
    const { product, template } = await api.get<{ product: Product; template: Template }>(`/products/${encodeURIComponent(params.id ?? '')}`);
    const ca = await api.get<{ ca: Ca }>(`/cas/${encodeURIComponent(product.ca_id)}`).then((r) => r.ca, () => null);
    return { product, template, ca };
  }, [params.id]);
  if (data.loading && !data.data) return <Loading what="Loading the product" />;
  if (data.error || !data.data) return <ErrorMessage message={`Could not load the product: ${data.error ?? 'no answer'}`} onRetry={data.reload} />;
  const { product: p, template, ca } = data.data;
  const protocols = (template.protocols ?? {}) as Record<string, Record<string, unknown>>;
  const attributes = Object.entries(p.subject_policy.attributes);
  return (
    <>
      <h2>{p.name}</h2>
      <Notice message={query.get('saved') === 'created' ? `Product ${p.name} created.` : query.get('saved') === 'edited' ? `Product ${p.name} saved. Requests decided from now on follow it.` : null} />
      {whoami.admin && (
        <div class="actions">
          <a class="button" href={href(`/products/${p.id}/edit`)}>
            Edit product
          </a>
        </div>
      )}
      <div class="grid">
        <section class="panel" aria-labelledby="p-issuing">
          <h3 id="p-issuing">Issuing</h3>
          <dl class="facts">
            <dt>CA</dt>
            <dd>
              <a href={href(`/cas/${p.ca_id}`)}>{ca?.name ?? p.ca_id}</a>
            </dd>
            <dt>Key algorithms</dt>
            <dd>{list(p.key_algorithms)}</dd>
            <dt>Validity</dt>
            <dd>
              {p.default_validity_days} days by default, at most {p.max_validity_days}
            </dd>
            <dt>Extended key usages</dt>
            <dd>{list(p.extended_key_usages)}</dd>
            <dt>Key escrow</dt>
            <dd>{p.escrow_keys ? 'managed keys are kept, encrypted, for a PKCS#12 download' : 'no'}</dd>
            <dt>Created</dt>
            <dd>{formatDateTime(p.created_at)}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="p-names">
          <h3 id="p-names">Names</h3>
          <dl class="facts">
            <dt>DNS suffixes</dt>
            <dd>{list(p.allowed_dns_suffixes, 'any DNS name')}</dd>
            <dt>Wildcards</dt>
            <dd>{yesNo(p.allow_wildcards)}</dd>
            <dt>IP addresses</dt>
            <dd>{yesNo(p.allow_ip_sans)}</dd>
            <dt>Email addresses</dt>
            <dd>{yesNo(p.allow_email_sans)}</dd>
            <dt>URIs</dt>
            <dd>{yesNo(p.allow_uri_sans)}</dd>
            <dt>Subject attributes</dt>
            <dd>{attributes.length ? attributes.map(([k, r]) => `${k}: ${'fixed' in r ? r.fixed : `one of ${r.allowed.join(', ')}`}`).join('; ') : 'CN only'}; others asked for are {p.subject_policy.unlisted === 'refuse' ? 'refused' : 'left out'}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="p-approval">
          <h3 id="p-approval">Approval and validation</h3>
          <dl class="facts">
            <dt>Approval</dt>
            <dd>{p.requires_approval ? `required${p.self_approval ? '; a requester may approve its own' : '; never by the requester (four eyes)'}` : 'not required'}</dd>
            <dt>Domain validation</dt>
            <dd>{p.dcv.mode === 'required' ? `required; a validation covers requests for ${p.dcv.reuse_days} days${p.dcv.subdomains ? ', and names under the domain' : ''}; dns-01 label ${p.dcv.dns_label}` : 'not required'}</dd>
          </dl>
        </section>
        <section class="panel" aria-labelledby="p-fields">
          <h3 id="p-fields">Custom fields and protocols</h3>
          <dl class="facts">
            <dt>Custom fields</dt>
            <dd>{p.custom_fields.length ? p.custom_fields.map((f) => `${f.name} (${f.type}${f.required ? ', required' : ''})`).join(', ') : 'none'}</dd>
            <dt>Protocol settings</dt>
            <dd>
              {Object.keys(protocols).length
                ? Object.entries(protocols)
                    .map(([proto, settings]) => `${proto}: ${Object.entries(settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`)
                    .join('; ')
                : 'none (each protocol\'s defaults)'}
            </dd>
          </dl>
        </section>
      </div>
      <details class="panel">
        <summary>The whole template (certgate's spelling)</summary>
        <pre>{JSON.stringify(template, null, 2)}</pre>
      </details>
    </>
  );
}
