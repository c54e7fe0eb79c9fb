// A product's custom fields: what a request (or an edit) must and may carry besides its names.
import type { CustomFieldDefinition, CustomFieldValues } from '../core/types.js';

export const MAX_CUSTOM_FIELD_LENGTH = 1024;

/**
 * The problems with these values under these definitions, one sentence each (none: they pass).
 * `partial`: an edit that changes some fields need not repeat the required ones it leaves alone.
 */
export function customFieldProblems(defs: readonly CustomFieldDefinition[], values: CustomFieldValues, partial = false): string[] {
  const problems: string[] = [];
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (const [name, value] of Object.entries(values)) {
    const def = byName.get(name);
    if (!def) problems.push(`custom field "${name}" is not declared by this product`);
    else if (typeof value !== def.type) problems.push(`custom field "${name}" must be a ${def.type}`);
    else if (typeof value === 'string' && value.length > MAX_CUSTOM_FIELD_LENGTH) problems.push(`custom field "${name}" is longer than ${MAX_CUSTOM_FIELD_LENGTH} characters`);
    else if (typeof value === 'number' && !Number.isFinite(value)) problems.push(`custom field "${name}" must be a finite number`);
  }
  if (!partial) {
    for (const def of defs) if (def.required && !(def.name in values)) problems.push(`custom field "${def.name}" is required by this product`);
  }
  return problems;
}
