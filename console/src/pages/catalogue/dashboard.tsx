// The dashboard: counts, alerts that lead to the filtered views, and two charts (issued per day,
// expiring per week). Everything comes from /v1 with the session's credential, so a reader of one
// CA sees that CA's numbers only.
import { api } from '../../api';
import { BarChart, type Bar } from '../../components/barChart';
import { ErrorMessage, Loading } from '../../components/states';
import { formatDate } from '../../format';
import { useLoad } from '../../hooks';
import { href } from '../../router';

const DAYS = 30;
const WEEKS = 12;
const EXPIRING_WITHIN_DAYS = 30;
/** Failed domain validations fetched for the alert (the domains page has the rest). */
const FAILED_SHOWN = 100;

interface Timeline {
  issued_per_day: { day: string; count: number }[];
  expiring_per_week: { from: string; to: string; count: number }[];
  expired_unreplaced: number;
}
interface InventoryReport {
  by_status: { active: number; revoked: number; expired: number };
  by_expiry: { within_7_days: number; within_30_days: number };
}
interface Domain {
  id: string;
  name: string;
  last_error: string | null;
}

// The API counts by UTC day: every label of a day says that day, whatever the browser's time zone.
const shortDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
const utcDay = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "Most in one day: 4 on 12 Nov; 9 in all." */
function summaryOf(bars: Bar[], unit: string): string {
  const sum = bars.reduce((n, b) => n + b.value, 0);
  if (sum === 0) return `None in this period.`;
  const peak = bars.reduce((best, b) => (b.value > best.value ? b : best));
  return `${sum} in all; most in one ${unit}: ${peak.value}, ${peak.longLabel}.`;
}

function Counts({ report, pending }: { report: InventoryReport; pending: number | null }) {
  const expiring = report.by_expiry.within_7_days + report.by_expiry.within_30_days;
  const items: [string, number | null, string][] = [
    ['Active certificates', report.by_status.active, href('/certificates', { status: 'active' })],
    [`Expiring within ${EXPIRING_WITHIN_DAYS} days`, expiring, href('/certificates', { expiringInDays: EXPIRING_WITHIN_DAYS, status: 'active' })],
    ['Revoked', report.by_status.revoked, href('/certificates', { status: 'revoked' })],
    ['Waiting for approval', pending, href('/requests', { status: 'pending_approval' })],
  ];
  return (
    <ul class="counts" aria-label="Counts">
      {items.map(([label, n, link]) => (
        <li key={label}>
          <span class="count">{n ?? '—'}</span>
          <a href={link}>{label}</a>
        </li>
      ))}
    </ul>
  );
}

function Alerts({ report, expiredUnreplaced, pending, failed }: { report: InventoryReport; expiredUnreplaced: number; pending: number | null; failed: { domains: Domain[]; more: boolean } | null }) {
  const expiring = report.by_expiry.within_7_days + report.by_expiry.within_30_days;
  const alerts: { key: string; level: 'warn' | 'danger'; body: preact.ComponentChildren }[] = [];
  if (report.by_expiry.within_7_days > 0)
    alerts.push({ key: 'week', level: 'danger', body: <>{plural(report.by_expiry.within_7_days, 'certificate expires', 'certificates expire')} within 7 days. </> });
  if (expiring > 0)
    alerts.push({
      key: 'expiring',
      level: 'warn',
      body: (
        <>
          {plural(expiring, 'certificate expires', 'certificates expire')} within {EXPIRING_WITHIN_DAYS} days.{' '}
          <a href={href('/certificates', { expiringInDays: EXPIRING_WITHIN_DAYS, status: 'active' })}>See the expiring certificates</a>
        </>
      ),
    });
  if (expiredUnreplaced > 0)
    alerts.push({
      key: 'expired',
      level: 'danger',
      body: (
        <>
          {plural(expiredUnreplaced, 'certificate', 'certificates')} expired in the last {DAYS} days and {expiredUnreplaced === 1 ? 'was' : 'were'} not replaced (neither renewed nor marked renewed).{' '}
          <a href={href('/certificates', { status: 'expired', sort: '-expires' })}>See every expired certificate, most recent first</a>
        </>
      ),
    });
  if (pending)
    alerts.push({
      key: 'pending',
      level: 'warn',
      body: (
        <>
          {plural(pending, 'request waits', 'requests wait')} for approval. <a href={href('/requests')}>Open the request queue</a>
        </>
      ),
    });
  if (failed && failed.domains.length > 0)
    alerts.push({
      key: 'dcv',
      level: 'danger',
      body: (
        <>
          Domain validation failed for {failed.more ? `more than ${failed.domains.length} domains` : plural(failed.domains.length, 'domain')}: {failed.domains.slice(0, 5).map((d) => d.name).join(', ')}
          {failed.domains.length > 5 ? ', …' : ''}. <a href={href('/domains')}>See the domains</a>
        </>
      ),
    });
  if (alerts.length === 0) return <p class="state empty">Nothing needs attention: no certificate expires within {EXPIRING_WITHIN_DAYS} days, no request waits, no validation failed.</p>;
  return (
    <ul class="alerts">
      {alerts.map((a) => (
        <li key={a.key} class={a.level}>
          <span class={`badge ${a.level}`}>{a.level === 'danger' ? 'Urgent' : 'Attention'}</span> {a.body}
        </li>
      ))}
    </ul>
  );
}

export function Dashboard() {
  const data = useLoad(async () => {
    // The side numbers may be refused to a credential (or fail) without hiding the rest.
    const optional = <T,>(p: Promise<T>): Promise<T | null> => p.catch(() => null);
    const [timeline, report, pending, failed] = await Promise.all([
      api.get<Timeline>('/reports/timeline', { days: DAYS, weeks: WEEKS }),
      api.get<InventoryReport>('/reports/inventory'),
      optional(api.get<{ total: number }>('/requests', { status: 'pending_approval', pageSize: 1 })),
      optional(api.get<{ domains: Domain[]; nextCursor: string | null }>('/domains', { status: 'failed', pageSize: FAILED_SHOWN })),
    ]);
    return { timeline, report, pending: pending?.total ?? null, failed: failed ? { domains: failed.domains, more: failed.nextCursor !== null } : null };
  }, []);
  if (data.loading && !data.data) return <Loading what="Loading the dashboard" />;
  if (data.error || !data.data) return <ErrorMessage message={`Could not load the dashboard: ${data.error ?? 'no answer'}`} onRetry={data.reload} />;
  const { timeline, report, pending, failed } = data.data;
  const issued: Bar[] = timeline.issued_per_day.map((d) => ({ label: shortDay.format(new Date(`${d.day}T00:00:00Z`)), longLabel: utcDay.format(new Date(`${d.day}T00:00:00Z`)), value: d.count }));
  const expiring: Bar[] = timeline.expiring_per_week.map((w, i) => ({
    label: i === 0 ? 'this week' : `+${i} wk`,
    longLabel: `${formatDate(w.from)} – ${formatDate(w.to)}`,
    value: w.count,
  }));
  return (
    <>
      <Counts report={report} pending={pending} />
      <section aria-labelledby="alerts-heading" class="panel">
        <h2 id="alerts-heading">Alerts</h2>
        <Alerts report={report} expiredUnreplaced={timeline.expired_unreplaced} pending={pending} failed={failed} />
      </section>
      <div class="grid">
        <section class="panel" aria-labelledby="issued-heading">
          <h2 id="issued-heading">Issuance</h2>
          <BarChart title={`Certificates issued per day, last ${DAYS} days`} summary={summaryOf(issued, 'day')} bars={issued} xLabel="Day (UTC)" yLabel="Certificates issued" labelEvery={5} />
        </section>
        <section class="panel" aria-labelledby="expiring-heading">
          <h2 id="expiring-heading">Expiry</h2>
          <BarChart title={`Certificates expiring per week, next ${WEEKS} weeks`} summary={summaryOf(expiring, 'week')} bars={expiring} xLabel="Week from today" yLabel="Certificates expiring" labelEvery={2} />
        </section>
      </div>
    </>
  );
}
