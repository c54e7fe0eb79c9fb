// The certificate a renewal, rekey or replacement follows: finding it, where its key came from,
// and the managed-mode order that reproduces it with a new key (the core's, shared with MCP).
export { issuedCertificate, keySourceOf, managedKeyLike } from '../../src/core/issuance.js';
