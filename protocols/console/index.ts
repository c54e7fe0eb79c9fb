// The web console at /console: a browser app for operators and approvers (console/src, bundled by
// `npm run build`), signed in with a REST credential's key. Everything it shows or changes goes
// through the REST API with the session's cookie, so a person may do exactly what the one
// authorization decision allows that credential, and nothing the API does not.
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { classifyFailure, logFailure, plainAnswerOf } from '../../src/core/failure.js';
import type { ProtocolModule } from '../../src/core/protocol.js';
import { assetsRouter } from './assets.js';
import { sessionRouter } from './session.js';

export const CONSOLE_PATH = '/console';

const consoleErrors = (log: Logger): ErrorRequestHandler => (err: unknown, req, res, _next) => {
  const failure = classifyFailure(err);
  logFailure(log, failure, 'the console', req.path);
  const answer = plainAnswerOf(failure);
  res.status(answer.status).set(answer.headers).json({ error: answer.sentence });
};

export const consoleProtocol: ProtocolModule = {
  name: 'console',
  mount(core) {
    const router = express.Router();
    router.use('/session', sessionRouter(core));
    router.use(assetsRouter());
    router.use((req, res) => {
      res.status(404).json({ error: `not found: ${req.method} ${req.baseUrl}${req.path}` });
    });
    router.use(consoleErrors(core.log));
    return { path: CONSOLE_PATH, router };
  },
};
