/**
 * The one UpdateExpression builder: SET each attribute of `set` and REMOVE each of `remove`
 * through placeholders (`#s0 = :s0`, `#r0`), so an attribute name is never spliced into the
 * expression and no two call sites number their placeholders their own way. `clauses` are SET
 * clauses written out by the caller (e.g. `version = version + :one`); their values come with
 * the caller's other expression values.
 */
export function updateExpression(opts: {
  set?: Record<string, unknown>;
  remove?: string[];
  clauses?: string[];
}): {
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets = Object.entries(opts.set ?? {}).map(([name, value], i) => {
    names[`#s${i}`] = name;
    values[`:s${i}`] = value;
    return `#s${i} = :s${i}`;
  });
  const removes = [...new Set(opts.remove ?? [])].map((name, i) => {
    names[`#r${i}`] = name;
    return `#r${i}`;
  });
  const setPart = [...sets, ...(opts.clauses ?? [])];
  const parts = [
    ...(setPart.length ? [`SET ${setPart.join(', ')}`] : []),
    ...(removes.length ? [`REMOVE ${removes.join(', ')}`] : []),
  ];
  if (!parts.length) throw new Error('An update must set or remove something');
  return {
    UpdateExpression: parts.join(' '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}
