// First-start set-up: a root CA, an issuing CA under it, a default product and an admin key.
import { createCa } from './ca/createCa.js';
import { CLI_CONTEXT } from './cli/kit.js';
import { createProduct } from './core/products.js';
import { DEFAULT_PRODUCT } from './core/enrollmentService.js';
import { PERMISSION_ACTIONS, type CaRecord, type KeyAlgorithm, type ProductRecord } from './core/types.js';
import { parseProductTemplate } from './policy/productSchema.js';
import type { Runtime } from './runtime.js';

export interface InitResult {
  created: boolean;
  root?: CaRecord;
  issuing?: CaRecord;
  product?: ProductRecord;
  /** Shown once; only its hash is stored. None where no protocol brings the `rest` kind. */
  adminToken?: string;
}

const ADMIN_KEY_TYPE = 'rest';

export async function initialize(rt: Runtime, options: { keyAlgorithm?: KeyAlgorithm } = {}): Promise<InitResult> {
  if ((await rt.store.cas.list()).length > 0) return { created: false };
  const keyAlgorithm = options.keyAlgorithm ?? 'ec-p256';
  let root: CaRecord;
  try {
    root = await createCa(
      rt.store,
      { name: 'certgate-root', subject: 'CN=certgate Dev Root CA, O=certgate', keyAlgorithm: keyAlgorithm === 'ec-p256' ? 'ec-p384' : keyAlgorithm, validityDays: 3650 * 2 },
      rt.secrets,
      CLI_CONTEXT,
    );
  } catch (error) {
    // Another init against the same database got there first (the CA name is unique, so only
    // one root is ever stored): that one sets the deployment up, this one has nothing to do.
    if ((await rt.store.cas.list()).length > 0) return { created: false };
    throw error;
  }
  const issuing = await createCa(
    rt.store,
    { name: 'certgate-issuing', subject: 'CN=certgate Dev Issuing CA, O=certgate', keyAlgorithm, validityDays: 3650, parentId: root.id, parentPointers: rt.cas.pointersFor(root.id) },
    rt.secrets,
    CLI_CONTEXT,
  );
  const product = await createProduct(
    rt.store,
    { name: DEFAULT_PRODUCT, caId: issuing.id, template: parseProductTemplate({ allowIpSans: true, allowWildcards: true }) },
    CLI_CONTEXT,
  );
  // The admin key is a REST credential: a runtime that knows no such kind (one opened without
  // the protocols, as some tests do) has nothing to present it to.
  if (!rt.credentials.types.includes(ADMIN_KEY_TYPE)) return { created: true, root, issuing, product };
  const { secret } = await rt.credentials.create(
    { type: ADMIN_KEY_TYPE, name: 'admin', products: '*', permissions: [{ ca: '*', actions: [...PERMISSION_ACTIONS] }], admin: true },
    CLI_CONTEXT,
  );
  return { created: true, root, issuing, product, adminToken: secret };
}
