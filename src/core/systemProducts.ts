// The reserved product each CA's system certificates (SCEP RA, OCSP signer, the gateway's TLS
// certificate) are recorded under. Its id is derived from the CA's, so every process finds the same
// one without asking; no UUID (the ids of operators' products) can take that form.
const PREFIX = 'system-';

export const systemProductId = (caId: string): string => `${PREFIX}${caId}`;
export const isSystemProductId = (id: string): boolean => id.startsWith(PREFIX);
/** The prefix of system products' ids, for the store's `not like` filter. */
export const SYSTEM_PRODUCT_ID_PATTERN = `${PREFIX}%`;
/** Names under this prefix are refused to operators, so a product of theirs cannot take a system product's name. */
export const SYSTEM_PRODUCT_NAME_PREFIX = 'system:';
export const systemProductName = (caId: string): string => `${SYSTEM_PRODUCT_NAME_PREFIX}${caId}`;
