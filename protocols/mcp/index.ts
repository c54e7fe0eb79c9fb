// The MCP endpoint at /mcp: Streamable HTTP in stateless mode (a server and transport per POST,
// JSON answers, no session), for AI agents acting with a REST credential's bearer token. The
// credential is checked by the one credential service, counted against the same per-credential
// limits as REST, and every tool is decided by the one authorization decision (tools.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { sourceIpOf } from '../../src/auth/ipAllowlist.js';
import { limitMessage, restLimits, restSubject } from '../../src/auth/requestLimits.js';
import { restLimitSettings } from '../../src/auth/restLimitSettings.js';
import { publicUrlOf } from '../../src/config.js';
import { restCaller, type Caller } from '../../src/core/access.js';
import { classifyFailure, logFailure, plainAnswerOf } from '../../src/core/failure.js';
import type { CoreServices, ProtocolModule } from '../../src/core/protocol.js';
import { packageVersion } from '../../src/version.js';
import { registerTools } from './tools.js';

export const MCP_PATH = '/mcp';
export const MCP_PROTOCOL = 'mcp';

/** The tools that lead to a certificate: counted against the credential's issuance limit too, as REST's issuing routes are. */
const ISSUING_TOOLS = new Set(['issue_certificate', 'renew_certificate']);

/** JSON-RPC's error codes the transport layer answers with (the SDK uses the same). */
const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const SERVER_ERROR = -32000;
const INTERNAL_ERROR = -32603;

type WithCaller = Request & { caller: Caller };

function rpcError(res: Response, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  res.status(status).set(headers).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/**
 * DNS rebinding and cross-site calls (the MCP transport spec): a browser says where a page came
 * from in Origin; only the gateway's own origin may call. MCP clients that are not browsers send
 * no Origin, and the bearer credential is what admits them.
 */
function checkOrigin(core: CoreServices): RequestHandler {
  const own = new URL(publicUrlOf(core.config)).origin;
  return (req, res, next) => {
    const origin = req.get('Origin');
    if (origin !== undefined && origin !== own) {
      rpcError(res, 403, SERVER_ERROR, `origin ${origin.slice(0, 100)} may not call this endpoint`);
      return;
    }
    next();
  };
}

/** The MCP authorization spec's answer for a protected resource, as far as it applies without OAuth: 401 with a Bearer challenge. */
function authenticate(core: CoreServices): RequestHandler {
  return async (req, res, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.get('Authorization') ?? '');
    const sourceIp = sourceIpOf(req);
    const result = await core.credentials.authenticate({ type: 'rest', bearer: m ? (m[1] as string) : '' }, { protocol: MCP_PROTOCOL, sourceIp });
    if (!result.ok) {
      const missing = result.reason === 'missing';
      const challenge = missing ? 'Bearer realm="certgate"' : `Bearer realm="certgate", error="invalid_token", error_description="${result.message}"`;
      const sentence = missing ? 'missing credential: send "Authorization: Bearer cg_…" (a REST API key) or a token from POST /v1/auth/token' : result.message;
      rpcError(res, 401, SERVER_ERROR, sentence, { 'WWW-Authenticate': challenge });
      return;
    }
    (req as WithCaller).caller = restCaller(result.credential, { actor: result.credential.id, protocol: MCP_PROTOCOL, sourceIp });
    next();
  };
}

interface ToolCall {
  name: string;
  /** What the call names (a certificate or request id), for the audit entry. */
  target: string;
}

/** The tool calls in a JSON-RPC message (or batch). */
function toolCallsIn(body: unknown): ToolCall[] {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  return messages.flatMap((m) => {
    if (typeof m !== 'object' || m === null) return [];
    const { method, params } = m as { method?: unknown; params?: { name?: unknown; arguments?: { id?: unknown } } };
    if (method !== 'tools/call' || typeof params?.name !== 'string') return [];
    const id = params.arguments?.id;
    return [{ name: params.name.slice(0, 100), target: typeof id === 'string' ? id : '-' }];
  });
}

/** Whether a JSON-RPC message (or batch) calls a tool that issues. */
const callsIssuingTool = (body: unknown): boolean => toolCallsIn(body).some((c) => ISSUING_TOOLS.has(c.name));

/** REST's per-credential limits, on the same counter: a credential past its 429 on /v1 gets none here either. */
function rateLimit(core: CoreServices): RequestHandler {
  return async (req, res, next) => {
    const { caller } = req as WithCaller;
    const buckets = restLimits(restLimitSettings.of(core.config), callsIssuingTool(req.body));
    const refusal = await core.requestLimits.count(restSubject(caller.credential.id), buckets, caller.audit);
    if (refusal) {
      rpcError(res, 429, SERVER_ERROR, limitMessage(refusal), { 'Retry-After': String(refusal.retryAfterSeconds) });
      return;
    }
    next();
  };
}

function serve(core: CoreServices): RequestHandler {
  const version = packageVersion();
  return async (req, res) => {
    const server = new McpServer(
      { name: 'certgate', version },
      {
        capabilities: { tools: {} },
        instructions:
          'certgate issues and manages X.509 certificates. Call whoami first to see what this credential may do. Private keys are never returned here: prefer issue_certificate in csr mode.',
      },
    );
    const { caller } = req as WithCaller;
    // A call the SDK refuses before a tool's handler runs (arguments its schema refuses, a tool
    // that does not exist) is audited here, once the answer has gone out, as the handlers audit theirs.
    const unheard = toolCallsIn(req.body);
    const ran = (tool: string): void => {
      const i = unheard.findIndex((c) => c.name === tool);
      if (i >= 0) unheard.splice(i, 1);
    };
    registerTools(server, { core, caller, ran });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('finish', () => {
      for (const call of unheard) {
        core.credentials
          .recordMcpToolCall(caller.audit, call.name, 'refused', call.target, { reason: 'the arguments do not fit the tool\'s input schema, or there is no such tool' })
          .catch((e: unknown) => logFailure(core.log, classifyFailure(e), 'MCP', 'tool call audit'));
      }
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
}

/** Stateless: no stream to open (GET) and no session to end (DELETE), as the SDK's stateless servers answer; nothing else either. */
const notAllowed: RequestHandler = (_req, res) => {
  res.set('Allow', 'POST');
  rpcError(res, 405, SERVER_ERROR, 'method not allowed: this MCP endpoint is stateless; send JSON-RPC messages with POST');
};

const mcpErrors = (core: CoreServices): ErrorRequestHandler => (err: unknown, req: Request, res: Response, _next: NextFunction) => {
  const failure = classifyFailure(err);
  logFailure(core.log, failure, 'MCP', req.path);
  const answer = plainAnswerOf(failure);
  if (res.headersSent) return;
  // A body that is not JSON is JSON-RPC's parse error; any other 4xx, an invalid request.
  const code = failure.kind === 'unreadable' ? (answer.sentence.includes('not valid JSON') ? PARSE_ERROR : INVALID_REQUEST) : failure.kind === 'refused' ? INVALID_REQUEST : INTERNAL_ERROR;
  rpcError(res, answer.status, code, answer.sentence, answer.headers);
};

export const mcpProtocol: ProtocolModule = {
  name: MCP_PROTOCOL,
  mount(core) {
    const router = express.Router();
    router.use(checkOrigin(core));
    router.post('/', express.json({ limit: '256kb' }), authenticate(core), rateLimit(core), serve(core));
    router.all('/', notAllowed);
    router.use((req, res) => {
      rpcError(res, 404, SERVER_ERROR, `not found: ${req.method} ${req.baseUrl}${req.path} (the MCP endpoint is POST ${MCP_PATH})`);
    });
    router.use(mcpErrors(core));
    return { path: MCP_PATH, router };
  },
};
