// Where EST answers (RFC 7030 §3.2.2): /.well-known/est/<operation>, /.well-known/est/<label>/<operation>,
// and /<label>/.well-known/est/<operation> for clients that cannot send a label (strongSwan 5.9 puts
// the URL's path before /.well-known/est). A label is a product name.
import type { CoreServices } from '../../src/core/protocol.js';
import type { ProductRecord } from '../../src/core/types.js';
import { EstHttpError } from './wire.js';

export const OPERATIONS = ['cacerts', 'simpleenroll', 'simplereenroll', 'serverkeygen', 'csrattrs', 'fullcmc'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface EstRoute {
  operation: Operation;
  /** The product name the path gives, if any. */
  label: string | null;
}

const PREFIX = /^(?:\/([^/]+))?\/\.well-known\/est(?=\/|$)(.*)$/;

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new EstHttpError(400, 'the URL path is not valid percent-encoding');
  }
}

/**
 * The EST route of a URL path; null when the path is not EST's; EstHttpError (404) for an EST
 * path that names no operation.
 */
export function matchEstPath(path: string): EstRoute | null {
  const m = PREFIX.exec(path);
  if (!m) return null;
  const prefix = m[1] === undefined ? null : decodeSegment(m[1]);
  const segments = (m[2] as string).split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.length > 2) {
    throw new EstHttpError(404, `no EST operation at ${path}: use /.well-known/est/[<label>/]<${OPERATIONS.join('|')}>`);
  }
  const operation = decodeSegment(segments[segments.length - 1] as string);
  if (!(OPERATIONS as readonly string[]).includes(operation)) {
    throw new EstHttpError(404, `"${operation}" is not an EST operation (${OPERATIONS.join(', ')})`);
  }
  const inner = segments.length === 2 ? decodeSegment(segments[0] as string) : null;
  if (prefix !== null && inner !== null && prefix !== inner) {
    throw new EstHttpError(404, `the path names two labels, "${prefix}" and "${inner}": give one`);
  }
  return { operation: operation as Operation, label: inner ?? prefix };
}

/** The product a route names (see EnrollmentService.productForLabel), or a 404 in EST's form. */
export async function productFor(core: Pick<CoreServices, 'enrollments'>, label: string | null): Promise<ProductRecord> {
  const product = await core.enrollments.productForLabel(label ?? undefined);
  if (product) return product;
  throw new EstHttpError(404, label === null ? 'no product to enroll under: create one with "certgate product create"' : `no EST label "${label}": no product has that name`);
}
