// The registered front-ends, in mount order. Adding a protocol is one line here (see README).
import type { ProtocolModule } from '../src/core/protocol.js';
import { acmeProtocol } from './acme/index.js';
import { cmpProtocol } from './cmp/index.js';
import { consoleProtocol } from './console/index.js';
import { docsProtocol } from './rest/docs.js';
import { estProtocol } from './est/index.js';
import { mcpProtocol } from './mcp/index.js';
import { restProtocol } from './rest/index.js';
import { scepProtocol } from './scep/index.js';
import { statusProtocol } from './status/index.js';

export const PROTOCOLS: readonly ProtocolModule[] = [scepProtocol, restProtocol, statusProtocol, acmeProtocol, estProtocol, cmpProtocol, docsProtocol, consoleProtocol, mcpProtocol];
