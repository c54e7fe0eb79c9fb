// What a PKCS#11 CA's record keeps (its backendConfig): where the key is and how to find the PIN,
// never the PIN. Every process that loads the CA (the gateway, the CLI) reads the PIN the same way.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { CaRecord } from '../../core/types.js';

export const pinSourceSchema = z.union([z.object({ env: z.string().min(1) }).strict(), z.object({ file: z.string().min(1) }).strict()]);
export type PinSource = z.infer<typeof pinSourceSchema>;

export const pkcs11ConfigSchema = z
  .object({
    /** The PKCS#11 module (shared library) path. */
    module: z.string().min(1),
    /** The token's label. */
    token: z.string().min(1),
    keyLabel: z.string().min(1),
    /** CKA_ID of the key pair, hex: the label finds it at creation, the id from then on. */
    keyId: z.string().regex(/^[0-9a-f]+$/),
    pin: pinSourceSchema,
  })
  .strict();
export type Pkcs11Config = z.infer<typeof pkcs11ConfigSchema>;

export function pkcs11ConfigOf(ca: Pick<CaRecord, 'name' | 'backendConfig'>): Pkcs11Config {
  const parsed = pkcs11ConfigSchema.safeParse(ca.backendConfig);
  if (!parsed.success) throw new Error(`CA "${ca.name}" has an unreadable PKCS#11 reference: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Where the PIN comes from, in words (for listings and errors). */
export function describePinSource(source: PinSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/** The PIN, from the environment variable or the file (its trailing newline dropped). */
export function readPin(source: PinSource, env: NodeJS.ProcessEnv = process.env): string {
  let pin: string | undefined;
  if ('env' in source) pin = env[source.env];
  else {
    try {
      pin = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new Error(`cannot read the PKCS#11 PIN from ${describePinSource(source)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  }
  if (!pin) throw new Error(`no PKCS#11 PIN in ${describePinSource(source)}`);
  return pin;
}
