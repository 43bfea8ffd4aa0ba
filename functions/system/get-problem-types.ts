import { routes } from '#functions/system/routes.ts';
import { endpoint } from '#shared/http/endpoint.ts';
import { problemList } from '#shared/system/problem-pages.ts';

const list = problemList();

export const handler = endpoint(routes.problemTypes, () => ({
  status: 200,
  headers: { 'Cache-Control': 'public, max-age=300' },
  body: list,
}));
