// npm run bench -- faults [--requests N] [--clients N] [--only name,name]: the fault suite's
// scenarios (test/harness/faults.ts) at a larger load. One JSON line per fault: requests accepted,
// issued, lost, duplicated, stuck, 5xx by code (and 503s during the fault), seconds until /readyz
// answered 200 again and until the last request sent before the repair was issued.
import { FAULTS, makeCsrs, otherServerErrors, runScenario, startGateway, type FaultName } from '../test/harness/faults.js';
import { argValue, emit } from './lib.js';

export async function benchFaults(args: string[]): Promise<void> {
  const requests = argValue(args, 'requests', 2000);
  const clients = argValue(args, 'clients', 16);
  const i = args.indexOf('--only');
  const only = i >= 0 && args[i + 1] ? (args[i + 1] as string).split(',') : [...FAULTS];
  const gateway = await startGateway({ CERTGATE_LOG_LEVEL: 'error' });
  if (!gateway) {
    emit({ scenario: 'faults', skipped: 'needs initdb/pg_ctl and redis-server' });
    return;
  }
  try {
    const csrs = makeCsrs(requests * 2, 'bench');
    for (const fault of FAULTS.filter((f) => only.includes(f)) as FaultName[]) {
      const r = await runScenario(gateway, fault, csrs, { requests, clients, budgetMs: 600_000 });
      const fiveXx = Object.fromEntries(Object.entries(r.codes).filter(([code]) => /^5\d\d$/.test(code)));
      emit({
        scenario: 'faults',
        fault,
        requests: r.sent,
        clients,
        accepted: r.accepted,
        issued: r.issued,
        lost: r.lost,
        duplicated: r.duplicated,
        stuck: r.stuck,
        fiveXx,
        unexpected5xx: otherServerErrors(r.codes),
        during_fault_503: r.faultCodes['503'] ?? 0,
        connection_errors: r.codes.conn ?? 0,
        readyz_back_s: r.readySeconds,
        last_stranded_issued_s: r.strandedSeconds,
        dead_processes: r.deadProcesses.length,
      });
    }
  } finally {
    await gateway.close();
  }
}
