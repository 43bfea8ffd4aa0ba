import { describe, expect, it } from 'vitest';
import { routeList } from '#functions/features.ts';

/**
 * A route row marked `pending` answers 501 naming its capability (test/unit/http/endpoint.test.ts)
 * and the OpenAPI document marks it `x-pending` (test/unit/routes.test.ts). Data sync bindings
 * were the last pending feature.
 */
describe('registered endpoints that are not built yet', () => {
  it('are none: every row of the route table is built', () => {
    expect(routeList.filter((r) => r.pending).map((r) => r.id)).toEqual([]);
  });
});
