// pkijs reads every structure (ContentInfo, SignedData, SignerInfo, Certificate, Name, Attribute,
// EnvelopedData …) by matching it against an asn1js schema tree that its static `schema()` builds
// anew on each call: for one pkiMessage that is thousands of asn1js blocks made and dropped, about
// a third of reading it. A schema tree is only read while matching (asn1js's compareSchema writes
// what it matches into the object being read, never into the schema), so each tree is built once
// per set of parameters and the same one is handed out again. Still the library's own schemas
// and matching, only not rebuilt.
import * as pkijs from 'pkijs';

type SchemaOwner = { schema: (parameters?: unknown) => unknown };

let reusing = false;

/** From now on, in this thread, each pkijs class builds its schema once per set of parameters. */
export function reusePkijsSchemas(): void {
  if (reusing) return;
  reusing = true;
  for (const owner of Object.values(pkijs) as unknown[]) {
    if (typeof owner !== 'function' || !Object.hasOwn(owner, 'schema')) continue;
    const cls = owner as unknown as SchemaOwner;
    const build = cls.schema;
    if (typeof build !== 'function') continue;
    const built = new Map<string, unknown>();
    cls.schema = (parameters: unknown = {}) => {
      // The parameters are names (strings) and flags; anything else is built each time, as before.
      let key: string;
      try {
        key = JSON.stringify(parameters);
      } catch {
        return build.call(cls, parameters);
      }
      let schema = built.get(key);
      if (schema === undefined) {
        schema = build.call(cls, parameters);
        built.set(key, schema);
      }
      return schema;
    };
  }
}
