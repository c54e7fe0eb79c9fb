// An approver's decision on a request: approve, or decline with a comment the requester reads. The
// API decides (four eyes included); its refusal is put in words here.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../../api';
import { describedBy, Field } from '../../components/field';
import { ErrorMessage } from '../../components/states';
import { useAction } from '../../hooks';
import { ActionPanel, PanelButtons } from '../../components/panel';
import { type RequestJson } from './shared';

/** The API's four-eyes refusal, as the person who sent the request should read it. */
function decisionError(e: unknown): never {
  if (e instanceof ApiError && e.status === 403 && /four eyes/i.test(e.message)) {
    throw new ApiError(403, 'You requested this certificate, so another approver must approve it. The request is still waiting for approval.');
  }
  throw e;
}

export const requestLabel = (r: RequestJson): string => r.names[0] ?? r.id;

export function useApprove(onDone: (message: string) => void) {
  return useAction(async (r: RequestJson) => {
    const after = await api.post<RequestJson>(`/requests/${r.id}/approve`).catch(decisionError);
    onDone(`Approved the request for ${requestLabel(r)}: it is ${after.status === 'issued' ? 'issued' : 'queued for signing'}.`);
  });
}

export function DeclinePanel({ request, onCancel, onDeclined }: { request: RequestJson; onCancel(): void; onDeclined(message: string): void }) {
  const [comment, setComment] = useState('');
  const [missing, setMissing] = useState<string | null>(null);
  const decline = useAction(async (text: string) => {
    await api.post<RequestJson>(`/requests/${request.id}/decline`, { comment: text }).catch(decisionError);
    onDeclined(`Declined the request for ${requestLabel(request)}.`);
  });
  const id = `decline-${request.id}`;
  const hint = 'The requester reads this as the reason; it is kept in the audit trail.';
  const submit = (e: Event) => {
    e.preventDefault();
    if (!comment.trim()) {
      setMissing('Write why you decline this request: a comment is required.');
      return;
    }
    setMissing(null);
    void decline.run(comment.trim());
  };
  return (
    <ActionPanel id={`${id}-panel`} title={`Decline the request for ${requestLabel(request)}`} onCancel={onCancel}>
      <form onSubmit={submit} noValidate>
        <Field id={id} label="Why it is declined" hint={hint} error={missing}>
          <textarea id={id} maxLength={500} required value={comment} aria-invalid={missing ? true : undefined} aria-describedby={describedBy(id, hint, missing)} onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)} />
        </Field>
        <ErrorMessage message={decline.error ? `Could not decline: ${decline.error}` : null} />
        <PanelButtons label="Decline request" busyLabel="Declining…" busy={decline.busy} danger onCancel={onCancel} />
      </form>
    </ActionPanel>
  );
}

/** Approve and Decline for one request, with the decline panel and the outcome. */
export function DecisionButtons({ request, declining, onDecline, approve }: { request: RequestJson; declining: boolean; onDecline(): void; approve: ReturnType<typeof useApprove> }) {
  return (
    <div class="actions compact">
      <button type="button" disabled={approve.busy} onClick={() => void approve.run(request)} aria-label={`Approve the request for ${requestLabel(request)}`}>
        Approve
      </button>
      <button type="button" class="secondary" aria-expanded={declining} aria-controls={`decline-${request.id}-panel`} onClick={onDecline} aria-label={`Decline the request for ${requestLabel(request)}`}>
        Decline
      </button>
    </div>
  );
}
