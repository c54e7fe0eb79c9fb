// Making and editing a product (admins): a form for the main template fields, and the rest of the
// template as JSON. The API checks the whole template and its 400 says what is wrong, in words.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Loading } from '../../components/states';
import { useAction, useLoad } from '../../hooks';
import { href, navigate } from '../../router';
import type { PageProps } from '../../routes';
import { useSession } from '../../session';
import { KEY_ALGORITHMS, type Ca, type Product, type Template } from './types';

const EKUS: [string, string][] = [
  ['serverAuth', 'TLS server'],
  ['clientAuth', 'TLS client'],
  ['codeSigning', 'Code signing'],
  ['emailProtection', 'Email (S/MIME)'],
  ['timeStamping', 'Time stamping'],
];
/** The template's keys the form edits; the JSON editor holds every other. */
const FORM_KEYS = ['keyAlgorithms', 'defaultValidityDays', 'maxValidityDays', 'allowedDnsSuffixes', 'allowWildcards', 'allowIpSans', 'extendedKeyUsages', 'requiresApproval', 'selfApproval', 'escrowKeys'];

interface FormState {
  name: string;
  caId: string;
  keyAlgorithms: string[];
  defaultValidityDays: string;
  maxValidityDays: string;
  dnsSuffixes: string;
  allowWildcards: boolean;
  allowIpSans: boolean;
  extendedKeyUsages: string[];
  requiresApproval: boolean;
  selfApproval: boolean;
  escrowKeys: boolean;
  dcvMode: 'none' | 'required';
  /** The rest of the template, as JSON text. */
  advanced: string;
}

function initialState(name: string, caId: string, t: Template): FormState {
  const rest: Template = Object.fromEntries(Object.entries(t).filter(([k]) => !FORM_KEYS.includes(k)));
  const dcv = (t.dcv ?? {}) as Record<string, unknown>;
  const { mode, ...dcvRest } = dcv;
  if (Object.keys(dcvRest).length) rest.dcv = dcvRest;
  else delete rest.dcv;
  return {
    name,
    caId,
    keyAlgorithms: (t.keyAlgorithms as string[] | undefined) ?? KEY_ALGORITHMS.map(([k]) => k),
    defaultValidityDays: String(t.defaultValidityDays ?? 90),
    maxValidityDays: String(t.maxValidityDays ?? 397),
    dnsSuffixes: ((t.allowedDnsSuffixes as string[] | undefined) ?? []).join('\n'),
    allowWildcards: t.allowWildcards === true,
    allowIpSans: t.allowIpSans === true,
    extendedKeyUsages: (t.extendedKeyUsages as string[] | undefined) ?? ['serverAuth', 'clientAuth'],
    requiresApproval: t.requiresApproval === true,
    selfApproval: t.selfApproval === true,
    escrowKeys: t.escrowKeys === true,
    dcvMode: mode === 'required' ? 'required' : 'none',
    advanced: JSON.stringify(rest, null, 2),
  };
}

/** The template the form stands for, or the sentence saying why the JSON part is not one. */
function templateOf(s: FormState): Template | string {
  let rest: unknown;
  try {
    rest = s.advanced.trim() ? JSON.parse(s.advanced) : {};
  } catch (e) {
    return `The advanced template is not valid JSON: ${(e as Error).message}.`;
  }
  if (!rest || typeof rest !== 'object' || Array.isArray(rest)) return 'The advanced template must be a JSON object ({ … }).';
  const other = rest as Template;
  const number = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));
  return {
    ...other,
    keyAlgorithms: s.keyAlgorithms,
    defaultValidityDays: number(s.defaultValidityDays),
    maxValidityDays: number(s.maxValidityDays),
    allowedDnsSuffixes: s.dnsSuffixes
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean),
    allowWildcards: s.allowWildcards,
    allowIpSans: s.allowIpSans,
    extendedKeyUsages: s.extendedKeyUsages,
    requiresApproval: s.requiresApproval,
    selfApproval: s.selfApproval,
    escrowKeys: s.escrowKeys,
    dcv: { ...((other.dcv as Template | undefined) ?? {}), mode: s.dcvMode },
  };
}

function Checks({ legend, options, chosen, onChange, name }: { legend: string; options: [string, string][]; chosen: string[]; onChange(v: string[]): void; name: string }) {
  return (
    <fieldset class="checks">
      <legend>{legend}</legend>
      {options.map(([value, label]) => (
        <label key={value}>
          <input type="checkbox" name={name} value={value} checked={chosen.includes(value)} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? [...chosen, value] : chosen.filter((c) => c !== value))} />
          {label}
        </label>
      ))}
    </fieldset>
  );
}

function Check({ label, checked, onChange }: { label: string; checked: boolean; onChange(v: boolean): void }) {
  return (
    <label>
      <input type="checkbox" checked={checked} onChange={(e) => onChange((e.target as HTMLInputElement).checked)} />
      {label}
    </label>
  );
}

function ProductForm({ initial, cas, editing }: { initial: FormState; cas: Ca[]; editing: Product | null }) {
  const [s, setS] = useState(initial);
  const [localError, setLocalError] = useState<string | null>(null);
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setS((prev) => ({ ...prev, [k]: v }));
  const save = useAction(async (template: Template) =>
    editing
      ? api.put<{ product: Product }>(`/products/${encodeURIComponent(editing.id)}`, { name: s.name.trim(), template })
      : api.post<{ product: Product }>('/products', { name: s.name.trim(), ca_id: s.caId, template }),
  );
  const submit = async (e: Event) => {
    e.preventDefault();
    setLocalError(null);
    if (!s.name.trim()) return setLocalError('Give the product a name.');
    if (!editing && !s.caId) return setLocalError('Choose the CA that signs for this product.');
    const template = templateOf(s);
    if (typeof template === 'string') return setLocalError(template);
    const saved = await save.run(template);
    if (saved) navigate(`/products/${saved.product.id}`, { saved: editing ? 'edited' : 'created' });
  };
  const error = localError ?? (save.error ? `Could not ${editing ? 'save' : 'create'} the product: ${save.error}` : null);
  return (
    <form onSubmit={submit} noValidate class="panel">
      <Field id="p-name" label="Name" hint={editing ? 'Unique. Renaming changes the label ACME, EST and SCEP clients reach the product by (their URLs name it).' : 'Unique; ACME, EST and SCEP URLs and requests may name the product by it.'}>
        <input id="p-name" value={s.name} required onInput={(e) => set('name', (e.target as HTMLInputElement).value)} aria-describedby="p-name-hint" />
      </Field>
      {editing ? (
        <p>
          CA: <a href={href(`/cas/${editing.ca_id}`)}>{cas.find((c) => c.id === editing.ca_id)?.name ?? editing.ca_id}</a> (a product keeps its CA: its certificates and requests refer to it).
        </p>
      ) : (
        <Field id="p-ca" label="CA" hint="The CA that signs this product's certificates.">
          <select id="p-ca" value={s.caId} onChange={(e) => set('caId', (e.target as HTMLSelectElement).value)} aria-describedby="p-ca-hint">
            <option value="">Choose a CA…</option>
            {cas.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name} ({c.type === 'root' ? 'root' : 'issuing'}, {c.backend})
              </option>
            ))}
          </select>
        </Field>
      )}
      <Checks legend="Key algorithms" name="keyAlgorithms" options={KEY_ALGORITHMS} chosen={s.keyAlgorithms} onChange={(v) => set('keyAlgorithms', v)} />
      <div class="grid">
        <Field id="p-default" label="Default validity (days)" hint="When a request names none.">
          <input id="p-default" type="number" min={1} value={s.defaultValidityDays} onInput={(e) => set('defaultValidityDays', (e.target as HTMLInputElement).value)} aria-describedby="p-default-hint" />
        </Field>
        <Field id="p-max" label="Maximum validity (days)" hint="At most 397 for TLS server certificates.">
          <input id="p-max" type="number" min={1} value={s.maxValidityDays} onInput={(e) => set('maxValidityDays', (e.target as HTMLInputElement).value)} aria-describedby="p-max-hint" />
        </Field>
      </div>
      <Field id="p-suffixes" label="DNS suffixes" hint="One per line (or separated by commas), e.g. example.com; empty allows any DNS name.">
        <textarea id="p-suffixes" value={s.dnsSuffixes} onInput={(e) => set('dnsSuffixes', (e.target as HTMLTextAreaElement).value)} aria-describedby="p-suffixes-hint" />
      </Field>
      <fieldset class="checks">
        <legend>Names</legend>
        <Check label="Allow wildcards (*.example.com)" checked={s.allowWildcards} onChange={(v) => set('allowWildcards', v)} />
        <Check label="Allow IP address SANs" checked={s.allowIpSans} onChange={(v) => set('allowIpSans', v)} />
      </fieldset>
      <Checks legend="Extended key usages" name="ekus" options={EKUS} chosen={s.extendedKeyUsages} onChange={(v) => set('extendedKeyUsages', v)} />
      <fieldset class="checks">
        <legend>Approval and keys</legend>
        <Check label="Requires approval" checked={s.requiresApproval} onChange={(v) => set('requiresApproval', v)} />
        <Check label="A requester may approve its own requests" checked={s.selfApproval} onChange={(v) => set('selfApproval', v)} />
        <Check label="Keep managed keys (escrow) for PKCS#12 download" checked={s.escrowKeys} onChange={(v) => set('escrowKeys', v)} />
      </fieldset>
      <Field id="p-dcv" label="Domain control validation" hint="Required: requests wait until each name is covered by a current validation.">
        <select id="p-dcv" value={s.dcvMode} onChange={(e) => set('dcvMode', (e.target as HTMLSelectElement).value as 'none' | 'required')} aria-describedby="p-dcv-hint">
          <option value="none">Not required</option>
          <option value="required">Required</option>
        </select>
      </Field>
      <Field id="p-advanced" label="Advanced template (JSON)" hint="Everything else, in certgate's spelling: subject, customFields, dcv (reuseDays, subdomains, dnsLabel), protocols, expiryNoticeDays, allowEmailSans, allowUriSans. The fields above take precedence.">
        <textarea id="p-advanced" class="json" spellcheck={false} value={s.advanced} onInput={(e) => set('advanced', (e.target as HTMLTextAreaElement).value)} aria-describedby="p-advanced-hint" />
      </Field>
      {editing && <p class="hint">An edit applies to requests decided afterwards; certificates already issued keep what they were issued with.</p>}
      <ErrorMessage message={error} />
      <div class="actions">
        <button type="submit" disabled={save.busy}>
          {save.busy ? 'Saving…' : editing ? 'Save product' : 'Create product'}
        </button>
        <a class="button secondary" href={editing ? href(`/products/${editing.id}`) : href('/products')}>
          Cancel
        </a>
      </div>
    </form>
  );
}

function AdminOnly() {
  return <ErrorMessage message="Only an admin credential makes or edits products. You can read them on the products page." />;
}

export function ProductNew() {
  const { whoami } = useSession();
  const cas = useLoad(() => api.get<{ cas: Ca[] }>('/cas'), []);
  if (!whoami.admin) return <AdminOnly />;
  if (cas.loading && !cas.data) return <Loading what="Loading the CAs" />;
  if (cas.error || !cas.data) return <ErrorMessage message={`Could not load the CAs: ${cas.error ?? 'no answer'}`} onRetry={cas.reload} />;
  return <ProductForm initial={initialState('', '', {})} cas={cas.data.cas} editing={null} />;
}

export function ProductEdit({ params }: PageProps) {
  const { whoami } = useSession();
  const data = useLoad(async () => {
    const [p, cas] = await Promise.all([api.get<{ product: Product; template: Template }>(`/products/${encodeURIComponent(params.id ?? '')}`), api.get<{ cas: Ca[] }>('/cas')]);
    return { ...p, cas: cas.cas };
  }, [params.id]);
  if (!whoami.admin) return <AdminOnly />;
  if (data.loading && !data.data) return <Loading what="Loading the product" />;
  if (data.error || !data.data) return <ErrorMessage message={`Could not load the product: ${data.error ?? 'no answer'}`} onRetry={data.reload} />;
  return <ProductForm key={data.data.product.id} initial={initialState(data.data.product.name, data.data.product.ca_id, data.data.template)} cas={data.data.cas} editing={data.data.product} />;
}
