import type { Channel } from "@outpost/protocol";

/**
 * The protocol's transport seam (protocol/src/transport.ts): moves whole frames. Taken from the
 * Channel constructor so the SDK always matches the protocol's definition.
 */
export type Transport = ConstructorParameters<typeof Channel>[0];
