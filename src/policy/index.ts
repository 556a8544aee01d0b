export { decide, PXD_DEFAULT_ROLES } from './decide.js';
export type { Binding, Decision, Operation, PolicyConfig, PolicyInput } from './types.js';
