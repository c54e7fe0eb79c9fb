// A protocol's settings, declared once in its folder: the same declaration extends the config
// loader (src/config.ts merges it) and reads the protocol's keys back, typed, from the Config.
import { z, type ZodRawShape } from 'zod';
import type { Config } from '../config.js';
import type { ProtocolConfig } from './protocol.js';

export interface ProtocolSettings<S extends ZodRawShape> extends ProtocolConfig<S> {
  /**
   * This protocol's keys of a loaded Config. A Config loaded without this protocol registered
   * (a test's, a CLI command's that serves nothing) gives the defaults.
   */
  of(config: Config): z.output<z.ZodObject<S>>;
}

export function protocolSettings<S extends ZodRawShape>(part: ProtocolConfig<S>): ProtocolSettings<S> {
  const schema = z.object(part.shape);
  const read = new WeakMap<Config, z.output<typeof schema>>();
  return {
    ...part,
    of(config) {
      let settings = read.get(config);
      if (!settings) {
        const own = Object.fromEntries(Object.keys(part.shape).map((key) => [key, (config as Record<string, unknown>)[key]]));
        settings = schema.parse(own);
        read.set(config, settings);
      }
      return settings;
    },
  };
}
