// ACME's own settings of a product: `template.protocols.acme`, set with
// `certgate product create … --protocol-setting acme.<key>=<value>`.
import { z } from 'zod';

export const acmeSettingsSchema = z
  .object({
    /** Only accounts with an external account binding (RFC 8555 §7.3.4) may order under this product. */
    eabRequired: z.boolean().default(false),
  })
  .strict();
