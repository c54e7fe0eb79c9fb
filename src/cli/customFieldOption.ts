// `product create --custom-field name:type[:required]`: a field each request under the product
// carries. The product schema checks the name and that names are unique.
import { InvalidArgumentError } from 'commander';
import type { CustomFieldDefinition, CustomFieldType } from '../core/types.js';

const TYPES: readonly CustomFieldType[] = ['string', 'number', 'boolean'];

export function parseCustomField(text: string): CustomFieldDefinition {
  const [name, type, flag, ...rest] = text.split(':');
  if (!name || !type || rest.length > 0 || (flag !== undefined && flag !== 'required' && flag !== 'optional')) {
    throw new InvalidArgumentError(`"${text}" must look like name:type or name:type:required`);
  }
  if (!TYPES.includes(type as CustomFieldType)) throw new InvalidArgumentError(`type of "${name}" must be one of ${TYPES.join(', ')}`);
  return { name, type: type as CustomFieldType, required: flag === 'required' };
}

/** Commander's reducer for the repeatable option. */
export const collectCustomField = (text: string, previous: CustomFieldDefinition[]): CustomFieldDefinition[] => [...previous, parseCustomField(text)];
