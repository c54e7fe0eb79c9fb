// The domain model every layer shares, one file per aggregate; front-ends translate their wire
// formats into these. This index only hands the names on.
export * from './model/audit.js';
export * from './model/cas.js';
export * from './model/certificates.js';
export * from './model/credentials.js';
export * from './model/products.js';
export * from './model/requests.js';
export * from './model/domains.js';
