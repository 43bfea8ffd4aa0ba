import * as z from 'zod';

/**
 * Request contracts of the plugin marketplace (registered, not built yet: 501). A plugin's
 * configuration is a JSON object of at most 64 keys.
 */
const configuration = z
  .record(z.string().min(1).max(100), z.unknown())
  .refine((c) => Object.keys(c).length <= 64, {
    message: 'At most 64 configuration keys',
  });

export const installPluginBody = z.object({ configuration: configuration.default({}) }).strict();
export const updatePluginConfigBody = z.object({ configuration }).strict();
