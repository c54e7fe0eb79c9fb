import { pino, type Logger } from 'pino';

/** JSON logs on stderr. Secrets are redacted by path, whatever a caller passes in. */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { svc: 'certgate' },
      redact: {
        paths: [
          'token',
          'secret',
          'challenge',
          'hmac_key',
          'api_key',
          'password',
          'passphrase',
          'masterKey',
          'headers.authorization',
          'req.headers.authorization',
          '*.token',
          '*.secret',
          '*.challenge',
          '*.hmac_key',
          '*.api_key',
          '*.password',
          '*.passphrase',
          '*.masterKey',
          '*.encryptedKey',
          'privateKey',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
