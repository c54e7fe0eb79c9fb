// Errors the core raises for the caller's mistakes. Each front-end maps `kind` to its protocol's
// error form; anything else is our fault and is logged, never shown.
export type ErrorKind = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'unprocessable';

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (m: string): AppError => new AppError('bad_request', m);
export const unauthorized = (m: string): AppError => new AppError('unauthorized', m);
export const forbidden = (m: string): AppError => new AppError('forbidden', m);
export const notFound = (m: string): AppError => new AppError('not_found', m);
export const conflict = (m: string): AppError => new AppError('conflict', m);
export const unprocessable = (m: string): AppError => new AppError('unprocessable', m);
