import { accessChain } from '#shared/http/access-chain.ts';
import { makeEndpoint } from '#shared/http/endpoint.ts';
import { tokensAccess } from '#shared/tokens/access.ts';

/**
 * The handler builder of every authenticated route: the platform's handler chain with the access
 * control of the tokens feature (API tokens, sessions held to the membership record, scopes, rate
 * limits, usage logs). Public routes build with `endpoint` of `#shared/http/endpoint.ts` instead,
 * so their functions bundle no credential code.
 */
export const endpoint = makeEndpoint(accessChain(tokensAccess));
