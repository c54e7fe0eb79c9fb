// `certgate webhook create | list | delete | deliveries`: the console's side of /v1/webhooks. The
// console is the operator (as an admin): its subscriptions are owned by `cli`.
import { InvalidArgumentError, type Command } from 'commander';
import { CLI_ACTOR } from '../audit/actions.js';
import { AppError } from '../core/errors.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../notify/events.js';
import { attemptJson, webhookJson } from '../notify/types.js';
import type { Runtime } from '../runtime.js';
import { CLI_CONTEXT, collect, findProduct, intArg, jsonOption, print, table, type CliKit } from './kit.js';

const eventArg = (v: string, prev: WebhookEventType[]): WebhookEventType[] => {
  const events = v.split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of events) if (!WEBHOOK_EVENT_TYPES.includes(e as WebhookEventType)) throw new InvalidArgumentError(`unknown event "${e}" (one of ${WEBHOOK_EVENT_TYPES.join(', ')})`);
  return [...prev, ...(events as WebhookEventType[])];
};

async function productIdsOf(rt: Runtime, given: string[]): Promise<string[] | null> {
  if (given.length === 0) return null;
  return Promise.all(given.map(async (g) => (await findProduct(rt, g)).id));
}

export function registerWebhookCommands(program: Command, withRuntime: CliKit['withRuntime']): void {
  const webhook = program.command('webhook').description('webhook subscriptions: signed notices of issuance, revocation, approvals, failed validations and coming expiries');
  webhook
    .command('create')
    .description('subscribe a URL; prints the signing secret (whsec_…) once: keep it where the receiver verifies signatures')
    .requiredOption('--url <url>', 'where deliveries are POSTed (http or https)')
    .requiredOption('--event <type>', 'an event to send (repeatable, or comma-separated); the events are listed below', eventArg, [])
    .option('--product <id or name>', 'only events of this product, repeatable (default: every product)', collect, [])
    .option('--description <text>', 'a note for whoever reads the list')
    .addHelpText('after', `\nEvents: ${WEBHOOK_EVENT_TYPES.join(', ')}`)
    .addOption(jsonOption())
    .action((o: { url: string; event: WebhookEventType[]; product: string[]; description?: string; json?: boolean }) =>
      withRuntime(async (rt) => {
        const { subscription, secret } = await rt.core.webhooks.create(
          { url: o.url, events: o.event, productIds: await productIdsOf(rt, o.product), description: o.description ?? null },
          CLI_ACTOR,
          CLI_CONTEXT,
        );
        print(!!o.json, { ...webhookJson(subscription), secret }, () => `webhook ${subscription.id} created for ${subscription.url}\nsigning secret (shown once): ${secret}`);
      }),
    );
  webhook
    .command('list')
    .description('every subscription, oldest first (never their secrets)')
    .addOption(jsonOption())
    .action((o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const list = await rt.core.webhooks.list();
        print(!!o.json, list.map(webhookJson), () =>
          table(
            ['id', 'url', 'products', 'owner', 'events'],
            list.map((w) => [w.id, w.url, w.productIds?.join(',') ?? '*', w.owner, w.events.join(',')]),
          ),
        );
      }),
    );
  webhook
    .command('delete')
    .description('remove a subscription; deliveries not yet made are dropped')
    .argument('<id>', 'the webhook id')
    .addOption(jsonOption())
    .action((id: string, o: { json?: boolean }) =>
      withRuntime(async (rt) => {
        const removed = await rt.core.webhooks.remove(id, CLI_CONTEXT);
        print(!!o.json, webhookJson(removed), () => `webhook ${removed.id} deleted`);
      }),
    );
  webhook
    .command('deliveries')
    .description('the delivery log of a subscription: every attempt, newest first')
    .argument('<id>', 'the webhook id')
    .option('--limit <n>', 'attempts per page', intArg(1, 1000), 50)
    .option('--page <n>', 'page number, from 1', intArg(1, Number.MAX_SAFE_INTEGER), 1)
    .addOption(jsonOption())
    .action((id: string, o: { limit: number; page: number; json?: boolean }) =>
      withRuntime(async (rt) => {
        if (!(await rt.core.webhooks.get(id))) throw new AppError('not_found', `webhook ${id} not found`);
        const { attempts, total } = await rt.core.webhooks.attempts(id, { limit: o.limit, offset: (o.page - 1) * o.limit });
        print(!!o.json, { deliveries: attempts.map(attemptJson), total, page: o.page, page_size: o.limit }, () =>
          table(
            ['at', 'event', 'type', 'attempt', 'status', 'error'],
            attempts.map((a) => [a.at.toISOString(), a.eventId, a.eventType, a.attempt, a.statusCode, a.error]),
          ),
        );
      }),
    );
}
