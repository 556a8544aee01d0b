/**
 * The three calls of the volume plugin protocol that carry a token and are authorised: Create, Remove
 * and Mount. A module of its own because every layer names them (how pxd reads a request, policy,
 * token resolution, audit lines, metrics, configuration); it imports nothing, so any layer can use it.
 */
export const OPERATIONS = ['create', 'remove', 'mount'] as const;

export type Operation = (typeof OPERATIONS)[number];
