/**
 * GridTokenX programs for @solana/kit: instruction builders (with PDA and fixed-address
 * defaults), account decoders, enum types, error codes and program addresses, generated with
 * Codama from the Anchor IDLs in programs/idl/ (`npm run build` regenerates and compiles).
 */
export * as registry from './generated/registry';
export * as energyToken from './generated/energy_token';
export * as trading from './generated/trading';
export * as certificates from './generated/certificates';
