// The certificate's editable inventory fields: owner, notes and custom fields (PUT /v1/certificates/:id;
// a product's declared fields are checked by the API, which says what it refuses).
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { Field } from '../../components/field';
import { ErrorMessage, Notice } from '../../components/states';
import { useAction } from '../../hooks';
import type { Certificate } from './types';

type Value = string | number | boolean;

export function EditFields({ cert, mayEdit, onChanged }: { cert: Certificate; mayEdit: boolean; onChanged(): void }) {
  const [owner, setOwner] = useState(cert.owner ?? '');
  const [notes, setNotes] = useState(cert.notes ?? '');
  const [fields, setFields] = useState<[string, string][]>(Object.entries(cert.custom_fields).map(([k, v]) => [k, String(v)]));
  const [newName, setNewName] = useState('');
  const [newValue, setNewValue] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const save = useAction(() => {
    const customFields: Record<string, Value | null> = {};
    // A field kept keeps its type when its text did not change (a number stays a number).
    for (const [k, v] of fields) customFields[k] = String(cert.custom_fields[k]) === v ? (cert.custom_fields[k] as Value) : v;
    for (const k of Object.keys(cert.custom_fields)) if (!fields.some(([name]) => name === k)) customFields[k] = null;
    if (newName.trim()) customFields[newName.trim()] = newValue;
    return api.put(`/certificates/${encodeURIComponent(cert.id)}`, { owner: owner.trim() || null, notes: notes.trim() || null, customFields });
  });

  if (!mayEdit) {
    return (
      <dl class="facts">
        <dt>Owner</dt>
        <dd>{cert.owner ?? '—'}</dd>
        <dt>Notes</dt>
        <dd>{cert.notes ?? '—'}</dd>
        {Object.entries(cert.custom_fields).map(([k, v]) => (
          <>
            <dt key={`k-${k}`}>{k}</dt>
            <dd key={`v-${k}`}>{String(v)}</dd>
          </>
        ))}
      </dl>
    );
  }
  return (
    <form
      aria-label="Owner, notes and custom fields"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await save.run()) {
          if (newName.trim()) setFields([...fields.filter(([k]) => k !== newName.trim()), [newName.trim(), newValue]]);
          setNewName('');
          setNewValue('');
          setDone('Saved.');
          onChanged();
        }
      }}
    >
      <Notice message={done} />
      <Field id="edit-owner" label="Owner">
        <input id="edit-owner" value={owner} onInput={(e) => setOwner((e.target as HTMLInputElement).value)} />
      </Field>
      <Field id="edit-notes" label="Notes">
        <textarea id="edit-notes" value={notes} onInput={(e) => setNotes((e.target as HTMLTextAreaElement).value)} />
      </Field>
      {fields.map(([name, value], i) => (
        <div class="field-row" key={name}>
          <Field id={`cf-${i}`} label={`Custom field ${name}`}>
            <input id={`cf-${i}`} value={value} onInput={(e) => setFields(fields.map((f, j) => (j === i ? [name, (e.target as HTMLInputElement).value] : f)))} />
          </Field>
          <button type="button" class="secondary" onClick={() => setFields(fields.filter((_, j) => j !== i))}>
            Remove field {name}
          </button>
        </div>
      ))}
      <div class="field-row">
        <Field id="cf-new-name" label="New custom field name">
          <input id="cf-new-name" value={newName} onInput={(e) => setNewName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="cf-new-value" label="New custom field value">
          <input id="cf-new-value" value={newValue} onInput={(e) => setNewValue((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      <ErrorMessage message={save.error && `Could not save: ${save.error}`} />
      <button type="submit" disabled={save.busy}>
        Save fields
      </button>
    </form>
  );
}
