import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { FieldDef, FieldMapping, SyncDirection, Transform } from '#shared/bindings/fields.ts';
import {
  applyInbound,
  applyOutbound,
  describeMapping,
  fieldMappingListSchema,
  fieldMappingSchema,
  type MappingOptions,
  mappedHash,
  validateMapping,
} from '#shared/bindings/mapping.ts';
import { TASK_STATUSES, targetFields } from '#shared/bindings/targets.ts';
import { check } from '#shared/validation.ts';

/** A GitHub issue, as an adapter would describe it. */
const githubIssues: FieldDef[] = [
  { name: 'title', type: 'string', description: 'Title', required: true },
  { name: 'body', type: 'text', description: 'Body' },
  { name: 'state', type: 'enum', values: ['open', 'closed'], description: 'State', required: true },
  { name: 'labels', type: 'string[]', description: 'Label names' },
  { name: 'assignee', type: 'user', description: 'Assignee login' },
  { name: 'user', type: 'user', description: 'Author login', read_only: true },
  { name: 'html_url', type: 'string', description: 'Link', read_only: true },
  { name: 'number', type: 'number', description: 'Issue number', read_only: true },
  { name: 'locked', type: 'boolean', description: 'Locked' },
  { name: 'closed_at', type: 'datetime', description: 'Closed at', read_only: true },
  { name: 'due_on', type: 'date', description: 'Milestone due day' },
  { name: 'due_ts', type: 'number', description: 'A unix deadline' },
  { name: 'due_at', type: 'string', description: 'A deadline as a string' },
];
/** A Slack message. */
const slackMessages: FieldDef[] = [
  { name: 'ts', type: 'string', description: 'Message ts', read_only: true, required: true },
  { name: 'text', type: 'text', description: 'Text' },
  { name: 'user', type: 'user', description: 'Author', read_only: true },
];
const task = targetFields.task;

const gh = (direction: SyncDirection = 'BIDIRECTIONAL'): MappingOptions => ({
  source: githubIssues,
  target: task,
  direction,
  sourceName: 'github_repository issues',
});
const slack = (direction: SyncDirection = 'BIDIRECTIONAL'): MappingOptions => ({
  source: slackMessages,
  target: task,
  direction,
  sourceName: 'slack_channel messages',
});

const title: FieldMapping = { source: 'title', target: 'title' };
const statusInverse = {
  todo: 'open',
  in_progress: 'open',
  in_review: 'open',
  done: 'closed',
  cancelled: 'closed',
};
const state: FieldMapping = {
  source: 'state',
  target: 'status',
  transform: { type: 'value_map', map: { open: 'todo', closed: 'done' }, inverse: statusInverse },
};
const slackTitle: FieldMapping = {
  source: 'text',
  target: 'title',
  transform: { type: 'default', value: '(no text)' },
};
const slackDescription: FieldMapping = { source: 'text', target: 'description' };

/** Problems as `path: message` lines. */
const problems = (mapping: FieldMapping[], opts = gh()) =>
  validateMapping(mapping, opts).map((p) => `${p.path}: ${p.message}`);

describe('fieldMappingSchema', () => {
  it('accepts each transform', () => {
    const transforms: Transform[] = [
      { type: 'rename' },
      { type: 'value_map', map: { open: 'todo' }, default: 'todo', inverse: { todo: 'open' } },
      { type: 'date', format: 'slack_ts' },
      { type: 'default', value: null },
      { type: 'concat', separator: ' — ' },
    ];
    for (const transform of transforms)
      expect(v.parse(fieldMappingSchema, { source: 'a', target: 'b', transform })).toEqual({
        source: 'a',
        target: 'b',
        transform,
      });
  });

  it('refuses unknown keys, unknown transforms and unbounded values', () => {
    const bad = [
      { source: 'a', target: 'b', extra: 1 },
      { source: 'a', target: 'b', transform: { type: 'rename', x: 1 } },
      { source: 'a', target: 'b', transform: { type: 'upper' } },
      { source: 'a', target: 'b', transform: { type: 'date', format: 'rfc2822' } },
      { source: '', target: 'b' },
      { source: 'a', target: 'b'.repeat(101) },
      { source: 'a', target: 'b', transform: { type: 'value_map', map: {} } },
      {
        source: 'a',
        target: 'b',
        transform: {
          type: 'value_map',
          map: Object.fromEntries([...Array(101).keys()].map((i) => [`k${i}`, 'v'])),
        },
      },
      { source: 'a', target: 'b', transform: { type: 'default', value: { nested: true } } },
    ];
    for (const entry of bad)
      expect(check(fieldMappingSchema, entry).success, JSON.stringify(entry)).toBe(false);
  });

  it('takes 1 to 50 entries', () => {
    expect(check(fieldMappingListSchema, []).success).toBe(false);
    expect(check(fieldMappingListSchema, Array(50).fill(title)).success).toBe(true);
    expect(check(fieldMappingListSchema, Array(51).fill(title)).success).toBe(false);
  });
});

describe('validateMapping', () => {
  it('accepts the GitHub issue mapping', () => {
    const mapping: FieldMapping[] = [
      title,
      { source: 'body', target: 'description' },
      state,
      { source: 'labels', target: 'labels' },
      { source: 'assignee', target: 'assignee' },
      { source: 'html_url', target: 'external_url' },
      { source: 'due_on', target: 'due_date', transform: { type: 'date', format: 'date' } },
    ];
    expect(problems(mapping)).toEqual([]);
  });

  it('names an unknown source field and the known ones', () => {
    expect(problems([{ source: 'titel', target: 'title' }])).toEqual([
      `field_mapping.0.source: unknown field 'titel' of github_repository issues; known: ${githubIssues.map((f) => f.name).join(', ')}`,
    ]);
  });

  it('names an unknown field of a concat by its index', () => {
    expect(
      problems([
        title,
        { source: ['body', 'bdy'], target: 'description', transform: { type: 'concat', separator: '\n' } },
      ]),
    ).toEqual([
      expect.stringMatching(
        /^field_mapping\.1\.source\.1: unknown field 'bdy' of github_repository issues; known: /,
      ),
    ]);
  });

  it('names an unknown target field', () => {
    expect(problems([title, { source: 'body', target: 'descr' }])).toEqual([
      "field_mapping.1.target: unknown PronaFlow field 'descr'; known: title, description, status, assignee, due_date, labels, external_url",
    ]);
  });

  it('refuses the same target twice', () => {
    expect(problems([title, { source: 'body', target: 'title' }])).toEqual([
      "field_mapping.1.target: 'title' is already mapped by field_mapping.0",
    ]);
  });

  it('lets a read-only PronaFlow field be written inbound (the sync sets it)', () => {
    expect(problems([title, { source: 'html_url', target: 'external_url' }])).toEqual([]);
  });

  it('wants an array of at least two fields for concat, one field otherwise', () => {
    const concat = { type: 'concat', separator: ' ' } as const;
    expect(problems([title, { source: 'body', target: 'description', transform: concat }])).toEqual([
      'field_mapping.1.source: concat joins several fields: give "source" as an array of at least 2 field names',
    ]);
    expect(problems([title, { source: ['body'], target: 'description', transform: concat }])).toHaveLength(1);
    expect(problems([title, { source: ['body', 'title'], target: 'description' }])).toEqual([
      'field_mapping.1.source: rename takes one field: give "source" as a field name (only concat joins several)',
    ]);
  });

  it('wants concat to write a string or text field', () => {
    expect(
      problems([
        title,
        { source: ['body', 'title'], target: 'labels', transform: { type: 'concat', separator: ' ' } },
      ]),
    ).toEqual([
      "field_mapping.1.target: concat writes a string or text field; 'labels' (string[]) is not one",
    ]);
  });

  it('checks value_map values against enum fields on both sides', () => {
    const mapping: FieldMapping[] = [
      title,
      {
        source: 'state',
        target: 'status',
        transform: {
          type: 'value_map',
          map: { open: 'todo', opened: 'todo', closed: 'finished' },
          default: 'later',
          inverse: { todo: 'open', done: 'shut' },
        },
      },
    ];
    expect(problems(mapping)).toEqual([
      "field_mapping.1.transform.map.opened: 'state' never takes 'opened'; its values: open, closed",
      `field_mapping.1.transform.map.closed: 'status' does not take 'finished'; its values: ${TASK_STATUSES.join(', ')}`,
      `field_mapping.1.transform.default: 'status' does not take 'later'; its values: ${TASK_STATUSES.join(', ')}`,
      "field_mapping.1.transform.inverse.done: 'state' does not take 'shut'; its values: open, closed",
    ]);
  });

  it('wants value_map between scalar fields and into string-like fields', () => {
    const map = { type: 'value_map', map: { a: 'b' } } as const;
    expect(problems([title, { source: 'labels', target: 'description', transform: map }])).toEqual([
      "field_mapping.1.source: value_map maps enum, string, number or boolean fields; 'labels' (string[]) is not one",
    ]);
    expect(problems([title, { source: 'locked', target: 'labels', transform: map }])).toEqual([
      "field_mapping.1.target: value_map writes string values; 'labels' (string[]) does not take them",
    ]);
  });

  it('allows a value_map that is not one-to-one in a two-way binding (one way) but not in an outbound one', () => {
    const many: FieldMapping = {
      source: 'state',
      target: 'status',
      transform: { type: 'value_map', map: { open: 'todo', closed: 'todo' } },
    };
    expect(problems([title, many])).toEqual([]);
    expect(problems([title, many], gh('OUTBOUND'))).toEqual([
      'field_mapping.1: cannot go outbound: value_map is not one-to-one; give "inverse"',
    ]);
  });

  it('limits date to date, datetime and string fields (a number for unix)', () => {
    expect(
      problems([title, { source: 'labels', target: 'due_date', transform: { type: 'date', format: 'iso' } }]),
    ).toEqual([
      "field_mapping.1.source: date with format 'iso' reads a date, datetime or string field; 'labels' (string[]) is not one",
    ]);
    expect(
      problems([
        title,
        { source: 'due_on', target: 'due_date', transform: { type: 'date', format: 'unix' } },
      ]),
    ).toEqual([
      "field_mapping.1.source: date with format 'unix' reads a number field; 'due_on' (date) is not one",
    ]);
    expect(
      problems([title, { source: 'due_on', target: 'labels', transform: { type: 'date', format: 'date' } }]),
    ).toEqual([
      "field_mapping.1.target: date writes a date, datetime or string field; 'labels' (string[]) is not one",
    ]);
    expect(
      problems([
        title,
        { source: 'due_ts', target: 'due_date', transform: { type: 'date', format: 'unix' } },
      ]),
    ).toEqual([]);
    const closed: FieldMapping = {
      source: 'closed_at',
      target: 'due_date',
      transform: { type: 'date', format: 'date' },
    };
    expect(problems([title, closed])).toEqual([
      "field_mapping.1.transform.format: 'closed_at' (datetime) is read with format 'iso'",
    ]);
  });

  it('checks that types fit, with a hint', () => {
    expect(problems([title, { source: 'labels', target: 'description' }])).toEqual([
      "field_mapping.1.target: cannot map 'labels' to 'description': 'labels' (string[]) cannot be stored in 'description' (text)",
    ]);
    expect(problems([title, { source: 'body', target: 'status' }])).toEqual([
      "field_mapping.1.target: cannot map 'body' to 'status': 'body' (text) cannot be stored in 'status' (enum); use a value_map",
    ]);
    expect(problems([title, { source: 'due_at', target: 'due_date' }])).toEqual([
      "field_mapping.1.target: cannot map 'due_at' to 'due_date': 'due_at' (string) cannot be stored in 'due_date' (date); use a date transform",
    ]);
    expect(problems([title, { source: 'state', target: 'status' }])).toEqual([
      "field_mapping.1.target: cannot map 'state' to 'status': 'status' does not take 'open', 'closed' of 'state'",
    ]);
  });

  it('accepts string and text either way, an enum or a user into a string, a user into a user', () => {
    const mapping: FieldMapping[] = [
      { source: 'body', target: 'title', transform: { type: 'default', value: 'Untitled' } },
      { source: 'title', target: 'description' },
      { source: 'user', target: 'assignee' },
      { source: 'state', target: 'external_url' },
    ];
    expect(problems(mapping)).toEqual([]);
  });

  it('checks the value of a default transform', () => {
    expect(problems([{ source: 'body', target: 'title', transform: { type: 'default', value: 3 } }])).toEqual(
      ["field_mapping.0.transform.value: the default does not fit: 'title' must be a string"],
    );
  });

  it('wants a required PronaFlow field mapped when the binding creates PronaFlow records', () => {
    expect(problems([{ source: 'body', target: 'description' }])).toEqual([
      "field_mapping: the PronaFlow field 'title' is required: map a field of github_repository issues to it",
    ]);
    expect(problems([{ source: 'body', target: 'description' }], gh('OUTBOUND'))).toEqual([]);
  });

  it('wants a default for a required PronaFlow field mapped from a field that may be missing', () => {
    expect(problems([{ source: 'text', target: 'title' }], slack('INBOUND'))).toEqual([
      "field_mapping.0.transform: the PronaFlow field 'title' is required but 'text' of slack_channel messages may be missing: give a 'default' transform",
    ]);
    expect(problems([slackTitle], slack('INBOUND'))).toEqual([]);
  });

  it('wants an entry in each direction the binding syncs', () => {
    const readOnly: FieldMapping = { source: 'ts', target: 'title' };
    expect(problems([title], gh('OUTBOUND'))).toEqual([]);
    expect(problems([readOnly], slack('BIDIRECTIONAL'))).toEqual(['field_mapping: no entry can go outbound']);
    expect(problems([readOnly], slack('INBOUND'))).toEqual([]);
  });

  it('wants at least one entry, and a required field mapped for comments too', () => {
    expect(problems([], slack('INBOUND'))).toEqual([
      'field_mapping: no entry maps inbound',
      "field_mapping: the PronaFlow field 'title' is required: map a field of slack_channel messages to it",
    ]);
    const comments: MappingOptions = { ...gh('INBOUND'), target: targetFields.comment };
    expect(problems([{ source: 'body', target: 'body' }], comments)).toEqual([
      "field_mapping.0.transform: the PronaFlow field 'body' is required but 'body' of github_repository issues may be missing: give a 'default' transform",
    ]);
    expect(
      problems([{ source: 'body', target: 'body', transform: { type: 'default', value: '' } }], comments),
    ).toEqual([]);
  });

  it('refuses an entry of an outbound binding that cannot go outbound', () => {
    expect(
      problems(
        [
          title,
          {
            source: ['title', 'body'],
            target: 'description',
            transform: { type: 'concat', separator: '\n' },
          },
        ],
        gh('OUTBOUND'),
      ),
    ).toEqual(['field_mapping.1: cannot go outbound: concat has no inverse']);
    expect(problems([title, { source: 'user', target: 'assignee' }], gh('OUTBOUND'))).toEqual([
      "field_mapping.1: cannot go outbound: the provider field 'user' is read-only",
    ]);
  });

  it('lists every problem at once', () => {
    expect(
      problems([
        { source: 'titel', target: 'title' },
        { source: 'body', target: 'titel' },
        { source: 'body', target: 'title' },
      ]),
    ).toHaveLength(3);
  });

  it('flags unknown field names, whatever they are', () => {
    const known = new Set([...githubIssues, ...task].map((f) => f.name));
    const unknown = fc.string({ minLength: 1, maxLength: 30 }).filter((n) => !known.has(n));
    fc.assert(
      fc.property(unknown, unknown, (source, target) => {
        expect(validateMapping([title, { source, target }], gh())).toEqual([
          {
            path: 'field_mapping.1.source',
            message: expect.stringContaining(
              `unknown field '${source}' of github_repository issues; known: title,`,
            ),
          },
          {
            path: 'field_mapping.1.target',
            message: expect.stringContaining(`unknown PronaFlow field '${target}'; known: title,`),
          },
        ]);
      }),
    );
  });
});

describe('describeMapping', () => {
  it('maps GitHub state both ways with an explicit inverse', () => {
    expect(describeMapping([title, state], gh())).toEqual([
      { ...title, inbound: true, outbound: true },
      { ...state, inbound: true, outbound: true },
    ]);
  });

  it('lets only the first of two entries of one Slack field write it outbound', () => {
    expect(describeMapping([slackTitle, slackDescription], slack())).toEqual([
      { ...slackTitle, inbound: true, outbound: true },
      {
        ...slackDescription,
        inbound: true,
        outbound: false,
        one_way_reason: "another entry (field_mapping.0) already writes 'text' outbound",
      },
    ]);
  });

  it('tells why an entry goes one way', () => {
    const mapping: FieldMapping[] = [
      title,
      { source: ['title', 'body'], target: 'description', transform: { type: 'concat', separator: '\n' } },
      { source: 'user', target: 'assignee' },
      {
        source: 'state',
        target: 'status',
        transform: { type: 'value_map', map: { open: 'todo', closed: 'todo' } },
      },
      { source: 'state', target: 'external_url' },
    ];
    expect(describeMapping(mapping, gh()).map((v) => v.one_way_reason)).toEqual([
      undefined,
      'concat has no inverse',
      "the provider field 'user' is read-only",
      'value_map is not one-to-one; give "inverse"',
      "'external_url' (string) cannot be written back to 'state' (enum)",
    ]);
  });

  it('goes one way only in a one-way binding, and nowhere for an entry with problems', () => {
    expect(describeMapping([title], gh('INBOUND'))).toEqual([{ ...title, inbound: true, outbound: false }]);
    expect(describeMapping([title], gh('OUTBOUND'))).toEqual([{ ...title, inbound: false, outbound: true }]);
    expect(describeMapping([{ source: 'titel', target: 'title' }], gh())).toEqual([
      { source: 'titel', target: 'title', inbound: false, outbound: false },
    ]);
  });
});

describe('applyInbound', () => {
  const issue = {
    title: 'Crash on save',
    body: 'Steps:\n1. save',
    state: 'closed',
    labels: ['bug'],
    assignee: 'octocat',
    html_url: 'https://github.com/acme/app/issues/7',
  };
  const mapping: FieldMapping[] = [
    title,
    { source: 'body', target: 'description' },
    state,
    { source: 'labels', target: 'labels' },
    { source: 'assignee', target: 'assignee' },
    { source: 'html_url', target: 'external_url' },
  ];

  it('maps a GitHub issue to a task', () => {
    expect(applyInbound(mapping, issue, gh())).toEqual({
      values: {
        title: 'Crash on save',
        description: 'Steps:\n1. save',
        status: 'done',
        labels: ['bug'],
        assignee: 'octocat',
        external_url: 'https://github.com/acme/app/issues/7',
      },
      errors: [],
    });
  });

  it('reports a value the target refuses and still maps the other fields', () => {
    const opts = {
      ...gh(),
      target: [...task, { name: 'state', type: 'enum', values: ['open', 'closed'], description: '' }],
    };
    const mapping: FieldMapping[] = [title, { source: 'state', target: 'state' }];
    const { values, errors } = applyInbound(mapping, { title: 'x', state: 'merged' }, opts as MappingOptions);
    expect(values).toEqual({ title: 'x' });
    expect(errors).toEqual([
      { path: 'state', message: `'state' must be one of open, closed (got "merged")` },
    ]);
  });

  it('reports a value the value_map does not map when it has no default', () => {
    const noDefault: FieldMapping = {
      source: 'state',
      target: 'status',
      transform: { type: 'value_map', map: { open: 'todo' } },
    };
    expect(applyInbound([title, noDefault], { title: 'x', state: 'closed' }, gh()).errors).toEqual([
      {
        path: 'status',
        message: "'state' of github_repository issues has a value the value_map of 'status' does not map",
      },
    ]);
    const withDefault: FieldMapping = {
      ...noDefault,
      transform: { type: 'value_map', map: { open: 'todo' }, default: 'done' },
    };
    expect(applyInbound([title, withDefault], { title: 'x', state: 'closed' }, gh()).values).toEqual({
      title: 'x',
      status: 'done',
    });
  });

  it('turns malformed values into errors', () => {
    const { values, errors } = applyInbound(
      mapping,
      { title: 42, body: null, labels: 'bug', state: 'open' },
      gh(),
    );
    expect(values).toEqual({ description: null, status: 'todo' });
    expect(errors).toEqual([
      { path: 'title', message: "'title' must be a string" },
      { path: 'labels', message: "'labels' must be an array of strings" },
    ]);
  });

  it('reports a required field that is missing, and leaves out other missing fields', () => {
    expect(applyInbound(mapping, { state: 'open' }, gh())).toEqual({
      values: { status: 'todo' },
      errors: [
        { path: 'title', message: "'title' is required: 'title' of github_repository issues is missing" },
      ],
    });
  });

  it('gives the default when the value is missing, null or empty', () => {
    for (const text of [undefined, null, ''])
      expect(
        applyInbound([slackTitle], { ts: '1.0', ...(text === undefined ? {} : { text }) }, slack()).values,
      ).toEqual({
        title: '(no text)',
      });
    expect(applyInbound([slackTitle], { text: 'hi' }, slack()).values).toEqual({ title: 'hi' });
  });

  it('maps one Slack text to both title and description', () => {
    expect(
      applyInbound(
        [slackTitle, slackDescription],
        { ts: '1712345678.000200', text: 'Deploy is red' },
        slack(),
      ).values,
    ).toEqual({
      title: 'Deploy is red',
      description: 'Deploy is red',
    });
  });

  it('joins concat parts with the separator, skipping empty ones', () => {
    const concat: FieldMapping = {
      source: ['title', 'body', 'labels'],
      target: 'description',
      transform: { type: 'concat', separator: ' | ' },
    };
    expect(applyInbound([title, concat], { title: 'T', body: '', labels: ['a', 'b'] }, gh()).values).toEqual({
      title: 'T',
      description: 'T | a | b',
    });
    expect(applyInbound([title, concat], { title: 'T', labels: [{ x: 1 }] }, gh()).errors).toEqual([
      {
        path: 'description',
        message: "concat of 'title', 'body', 'labels' joins text, numbers and booleans only",
      },
    ]);
  });

  it('reads each date format', () => {
    const at = (source: string, format: 'iso' | 'date' | 'unix' | 'slack_ts', target = 'due_date') => [
      title,
      { source, target, transform: { type: 'date', format } } as FieldMapping,
    ];
    expect(
      applyInbound(at('closed_at', 'iso'), { title: 't', closed_at: '2024-04-05T23:30:00-02:00' }, gh())
        .values.due_date,
    ).toBe('2024-04-06');
    expect(
      applyInbound(at('due_on', 'date'), { title: 't', due_on: '2024-02-29' }, gh()).values.due_date,
    ).toBe('2024-02-29');
    expect(applyInbound(at('due_ts', 'unix'), { title: 't', due_ts: 1712345678 }, gh()).values.due_date).toBe(
      '2024-04-05',
    );
    const ts = applyInbound(
      [slackTitle, { source: 'ts', target: 'external_url', transform: { type: 'date', format: 'slack_ts' } }],
      { ts: '1712345678.000200' },
      slack(),
    );
    expect(ts.values.external_url).toBe('2024-04-05T19:34:38.000Z');
  });

  it('reports a date it cannot read', () => {
    const due: FieldMapping = {
      source: 'due_on',
      target: 'due_date',
      transform: { type: 'date', format: 'date' },
    };
    for (const due_on of ['2024-02-30', '2024-4-5', 20240405, '2024-04-05T00:00:00Z'])
      expect(applyInbound([title, due], { title: 't', due_on }, gh()).errors).toEqual([
        { path: 'due_date', message: "'due_on' of github_repository issues is not a date in format 'date'" },
      ]);
    const iso: FieldMapping = {
      source: 'closed_at',
      target: 'due_date',
      transform: { type: 'date', format: 'iso' },
    };
    expect(
      applyInbound([title, iso], { title: 't', closed_at: '2024-04-05T10:00:00' }, gh()).errors,
    ).toHaveLength(1);
  });

  it('ignores entries with problems and entries of the other direction', () => {
    expect(
      applyInbound([title, { source: 'titel', target: 'description' }], { title: 't', titel: 'x' }, gh())
        .values,
    ).toEqual({ title: 't' });
    expect(applyInbound([title], { title: 't' }, gh('OUTBOUND')).values).toEqual({});
  });

  it('reads only own fields and own value_map entries (no prototype lookups)', () => {
    const record = JSON.parse('{"title":"t","__proto__":"x","state":"constructor"}');
    const noDefault: FieldMapping = {
      source: 'state',
      target: 'status',
      transform: { type: 'value_map', map: { open: 'todo' } },
    };
    expect(applyInbound([title, noDefault], record, gh())).toEqual({
      values: { title: 't' },
      errors: [
        {
          path: 'status',
          message: "'state' of github_repository issues has a value the value_map of 'status' does not map",
        },
      ],
    });
    expect(
      applyInbound([title, { source: 'body', target: 'description' }], { title: 't' }, gh()).values,
    ).toEqual({ title: 't' });
  });

  it('refuses a record that is not an object', () => {
    expect(applyInbound(mapping, [] as never, gh()).errors).toEqual([
      { path: '', message: 'the record must be an object' },
    ]);
  });

  it('never throws on arbitrary JSON', () => {
    const date = (
      source: string,
      format: 'iso' | 'date' | 'unix' | 'slack_ts',
      target: string,
    ): FieldMapping => ({
      source,
      target,
      transform: { type: 'date', format },
    });
    const opts: MappingOptions = {
      ...gh(),
      target: [...task, { name: 'happened_at', type: 'datetime', description: '' }],
    };
    const mappings: FieldMapping[][] = [
      [
        title,
        {
          source: ['title', 'body', 'labels'],
          target: 'description',
          transform: { type: 'concat', separator: ' ' },
        },
        state,
        { source: 'labels', target: 'labels' },
        date('closed_at', 'iso', 'due_date'),
        { source: 'html_url', target: 'external_url', transform: { type: 'default', value: 'none' } },
        { source: 'assignee', target: 'assignee' },
      ],
      [
        { source: 'title', target: 'title', transform: { type: 'default', value: 'x' } },
        {
          source: 'locked',
          target: 'description',
          transform: { type: 'value_map', map: { true: 'a', false: 'b' } },
        },
        {
          source: 'number',
          target: 'status',
          transform: { type: 'value_map', map: { 1: 'todo' }, default: 'done' },
        },
        date('due_ts', 'unix', 'happened_at'),
        date('due_on', 'date', 'due_date'),
      ],
      [title, date('due_at', 'slack_ts', 'happened_at'), date('due_ts', 'unix', 'due_date')],
    ];
    for (const m of mappings) expect(validateMapping(m, opts)).toEqual([]);
    const names = [...githubIssues, ...opts.target].map((f) => f.name);
    const record = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.constantFrom(...names, '__proto__', 'constructor'), fc.jsonValue()),
    );
    fc.assert(
      fc.property(record, fc.constantFrom(...mappings), (r, m) => {
        for (const result of [applyInbound(m, r as never, opts), applyOutbound(m, r as never, opts)]) {
          expect(Array.isArray(result.errors)).toBe(true);
          expect(typeof mappedHash(result.values)).toBe('string');
        }
      }),
    );
  });
});

describe('applyOutbound', () => {
  it('maps task statuses back to GitHub states through the inverse', () => {
    const status = (s: string) => applyOutbound([title, state], { status: s }, gh()).values;
    expect(TASK_STATUSES.map(status)).toEqual([
      { state: 'open' },
      { state: 'open' },
      { state: 'open' },
      { state: 'closed' },
      { state: 'closed' },
    ]);
  });

  it('maps only the fields present (a partial update), and a default does not fire', () => {
    const mapping: FieldMapping[] = [
      title,
      { source: 'body', target: 'description', transform: { type: 'default', value: 'n/a' } },
      state,
    ];
    expect(applyOutbound(mapping, { status: 'in_review' }, gh())).toEqual({
      values: { state: 'open' },
      errors: [],
    });
    expect(applyOutbound(mapping, { description: null }, gh()).values).toEqual({ body: null });
  });

  it('takes a field given as undefined for an absent one', () => {
    expect(applyOutbound([title, state], { title: undefined, status: 'done' }, gh())).toEqual({
      values: { state: 'closed' },
      errors: [],
    });
  });

  it('writes a Slack text from the first entry only', () => {
    expect(
      applyOutbound([slackTitle, slackDescription], { title: 'New', description: 'Other' }, slack()).values,
    ).toEqual({ text: 'New' });
  });

  it('reports a status without inverse for a one-to-one value_map', () => {
    const oneToOne: FieldMapping = {
      source: 'state',
      target: 'status',
      transform: { type: 'value_map', map: { open: 'todo', closed: 'done' } },
    };
    expect(applyOutbound([title, oneToOne], { status: 'done', title: 'x' }, gh()).values).toEqual({
      title: 'x',
      state: 'closed',
    });
    expect(applyOutbound([title, oneToOne], { status: 'in_progress' }, gh()).errors).toEqual([
      {
        path: 'state',
        message: `'status' has a value with no inverse in its value_map; give it in "inverse"`,
      },
    ]);
  });

  it('reports a value the provider field refuses', () => {
    expect(applyOutbound([title], { title: null }, gh()).errors).toEqual([
      { path: 'title', message: "'title' is required" },
    ]);
    expect(
      applyOutbound([title, { source: 'labels', target: 'labels' }], { labels: [1] }, gh()).errors,
    ).toEqual([{ path: 'labels', message: "'labels' must be an array of strings" }]);
  });

  it('writes numbers and booleans back from a value_map', () => {
    const locked: FieldMapping = {
      source: 'locked',
      target: 'description',
      transform: { type: 'value_map', map: { true: 'locked', false: 'open' } },
    };
    expect(applyInbound([title, locked], { title: 't', locked: true }, gh()).values.description).toBe(
      'locked',
    );
    expect(applyOutbound([title, locked], { description: 'open' }, gh()).values).toEqual({ locked: false });
  });

  it('formats dates back', () => {
    const due = (format: 'iso' | 'date' | 'unix', source: string) => [
      title,
      { source, target: 'due_date', transform: { type: 'date', format } } as FieldMapping,
    ];
    expect(applyOutbound(due('date', 'due_on'), { due_date: '2024-04-05' }, gh()).values).toEqual({
      due_on: '2024-04-05',
    });
    expect(applyOutbound(due('unix', 'due_ts'), { due_date: '2024-04-05' }, gh()).values).toEqual({
      due_ts: 1712275200,
    });
    expect(applyOutbound(due('iso', 'due_at'), { due_date: '2024-04-05' }, gh()).values).toEqual({
      due_at: '2024-04-05T00:00:00.000Z',
    });
    expect(applyOutbound(due('date', 'due_on'), { due_date: 'soon' }, gh()).errors).toEqual([
      { path: 'due_on', message: "'due_date' is not a date (YYYY-MM-DD)" },
    ]);
  });
});

describe('round trips', () => {
  /** Task fields with a datetime, for date round trips. */
  const timed: FieldDef[] = [...task, { name: 'happened_at', type: 'datetime', description: 'When' }];
  const ghTimed: MappingOptions = { ...gh(), target: timed };
  const roundTrip = (mapping: FieldMapping[], opts: MappingOptions, record: Record<string, unknown>) => {
    const inbound = applyInbound(mapping, record, opts);
    expect(inbound.errors).toEqual([]);
    const outbound = applyOutbound(mapping, inbound.values, opts);
    expect(outbound.errors).toEqual([]);
    return outbound.values;
  };
  const text = fc.string({ minLength: 1, maxLength: 50 });
  const instant = fc.date({
    min: new Date('0001-01-01T00:00:00Z'),
    max: new Date('9999-12-31T23:59:59.999Z'),
    noInvalidDate: true,
  });

  it('gives back renamed, defaulted and mapped fields', () => {
    const mapping: FieldMapping[] = [
      title,
      { source: 'body', target: 'description', transform: { type: 'default', value: '' } },
      {
        source: 'state',
        target: 'status',
        transform: { type: 'value_map', map: { open: 'todo', closed: 'done' } },
      },
      { source: 'labels', target: 'labels' },
      { source: 'assignee', target: 'assignee' },
    ];
    const record = fc.record({
      title: text,
      body: text,
      state: fc.constantFrom('open', 'closed'),
      labels: fc.array(text),
      assignee: fc.option(text, { nil: null }),
    });
    fc.assert(
      fc.property(record, (r) => {
        expect(roundTrip(mapping, gh(), r)).toEqual(r);
      }),
    );
  });

  it('gives back the source values of a one-to-one value_map and of an explicit inverse', () => {
    const pairs = fc
      .uniqueArray(fc.tuple(text, text), { minLength: 1, maxLength: 20, selector: ([k]) => k })
      .filter((ps) => new Set(ps.map(([, v]) => v)).size === ps.length);
    const strings: MappingOptions = { ...gh(), target: task };
    fc.assert(
      fc.property(pairs, fc.boolean(), fc.nat(), (ps, explicit, pick) => {
        const map = Object.fromEntries(ps);
        const inverse = explicit ? Object.fromEntries(ps.map(([k, v]) => [v, k])) : undefined;
        const mapping: FieldMapping[] = [
          title,
          {
            source: 'body',
            target: 'description',
            transform: { type: 'value_map', map, ...(inverse ? { inverse } : {}) },
          },
        ];
        const key = ps[pick % ps.length]![0];
        expect(describeMapping(mapping, strings)[1]!.outbound).toBe(true);
        expect(roundTrip(mapping, strings, { title: 't', body: key })).toEqual({ title: 't', body: key });
      }),
    );
  });

  it('gives back GitHub states through the explicit inverse', () => {
    for (const s of ['open', 'closed'])
      expect(roundTrip([title, state], gh(), { title: 't', state: s })).toEqual({ title: 't', state: s });
  });

  it('gives back dates in each format', () => {
    const date = (
      source: string,
      format: 'iso' | 'date' | 'unix' | 'slack_ts',
      target = 'happened_at',
    ): FieldMapping[] => [title, { source, target, transform: { type: 'date', format } }];
    fc.assert(
      fc.property(instant, (d) => {
        const iso = d.toISOString();
        const secs = Math.floor(d.getTime() / 1000);
        const ts = `${secs}.${String(d.getTime() - secs * 1000).padStart(3, '0')}000`;
        expect(roundTrip(date('due_at', 'iso'), ghTimed, { title: 't', due_at: iso })).toEqual({
          title: 't',
          due_at: iso,
        });
        expect(roundTrip(date('due_ts', 'unix'), ghTimed, { title: 't', due_ts: secs }).due_ts).toBe(secs);
        if (secs >= 0)
          expect(roundTrip(date('due_at', 'slack_ts'), ghTimed, { title: 't', due_at: ts }).due_at).toBe(ts);
        expect(
          roundTrip(date('due_on', 'date', 'due_date'), gh(), { title: 't', due_on: iso.slice(0, 10) })
            .due_on,
        ).toBe(iso.slice(0, 10));
        expect(
          roundTrip(date('due_on', 'date'), ghTimed, { title: 't', due_on: iso.slice(0, 10) }).due_on,
        ).toBe(iso.slice(0, 10));
      }),
    );
  });
});

describe('mappedHash', () => {
  it('is a sha256 hex digest that ignores key order and undefined members', () => {
    const a = mappedHash({ title: 'x', labels: ['a', 'b'], meta: { b: 1, a: 2 } });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(mappedHash({ meta: { a: 2, b: 1 }, labels: ['a', 'b'], title: 'x', gone: undefined })).toBe(a);
    expect(mappedHash({ title: 'x', labels: ['b', 'a'], meta: { b: 1, a: 2 } })).not.toBe(a);
    expect(mappedHash({ title: null })).not.toBe(mappedHash({}));
  });

  it('reads dates as JSON and undefined array items as null', () => {
    expect(mappedHash({ at: new Date(0) })).toBe(mappedHash({ at: '1970-01-01T00:00:00.000Z' }));
    expect(mappedHash({ a: [undefined] })).toBe(mappedHash({ a: [null] }));
  });

  it('gives equal hashes for equal content in any key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (values) => {
        const reversed = Object.fromEntries(Object.entries(values).reverse());
        expect(mappedHash(reversed)).toBe(mappedHash(values));
        expect(mappedHash(values)).toBe(mappedHash(JSON.parse(JSON.stringify(values))));
      }),
    );
  });
});
