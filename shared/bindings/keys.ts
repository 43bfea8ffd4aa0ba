/**
 * Key builders of data sync bindings (access patterns B1–B9 in shared/db/README.md). Everything a
 * binding holds lives in its connection's partition (`OAUTHCONN#<conn>`, O4), so deleting the
 * connection deletes its bindings, runs, links and pending changes with it; the workspace finds
 * its bindings through gsi1.
 */
import { keys } from '#shared/db/keys.ts';

const owned = (connectionId: string) => keys.oauthConnectionOwned(connectionId);

export const bindingKeys = {
  /** A binding (B1). */
  binding: (connectionId: string, bindingId: string) => ({
    pk: owned(connectionId),
    sk: `BINDING#${bindingId}`,
  }),
  bindingPrefix: 'BINDING#',
  /** gsi1 keys of a binding: a workspace's bindings, by id (B2; ids sort by creation time). */
  ofWorkspace: (workspaceId: string, bindingId: string) => ({
    gsi1pk: `BINDINGS#${workspaceId}`,
    gsi1sk: bindingId,
  }),
  workspaceIndex: (workspaceId: string) => `BINDINGS#${workspaceId}`,
  /**
   * One binding per resource and entity on a connection (B3): created with the binding in one
   * transaction, so two concurrent creates of the same binding make one.
   */
  resourceClaim: (connectionId: string, resourceKey: string, entity: string) => ({
    pk: owned(connectionId),
    sk: `BINDRES#${entity}#${resourceKey}`,
  }),
  /** A run of a binding (B4), newest last (run ids sort by time). */
  run: (connectionId: string, bindingId: string, runId: string) => ({
    pk: owned(connectionId),
    sk: `BIND#${bindingId}#RUN#${runId}`,
  }),
  runPrefix: (bindingId: string) => `BIND#${bindingId}#RUN#`,
  /** The link between an external record and its PronaFlow record (B5). */
  link: (connectionId: string, bindingId: string, externalId: string) => ({
    pk: owned(connectionId),
    sk: `BIND#${bindingId}#LINK#${externalId}`,
  }),
  linkPrefix: (bindingId: string) => `BIND#${bindingId}#LINK#`,
  /** gsi1 keys of a link: the links of one PronaFlow record, by binding (B6: outbound events). */
  linkOfRecord: (workspaceId: string, pronaflowId: string, bindingId: string) => ({
    gsi1pk: `BINDPF#${workspaceId}#${pronaflowId}`,
    gsi1sk: bindingId,
  }),
  recordIndex: (workspaceId: string, pronaflowId: string) => `BINDPF#${workspaceId}#${pronaflowId}`,
  /** A PronaFlow change waiting to be written to the provider (B7), one per PronaFlow record. */
  pending: (connectionId: string, bindingId: string, pronaflowId: string) => ({
    pk: owned(connectionId),
    sk: `BIND#${bindingId}#OUT#${pronaflowId}`,
  }),
  pendingPrefix: (bindingId: string) => `BIND#${bindingId}#OUT#`,
  /**
   * The schedule marker of a binding with a schedule (B8): gsi1 sorts every scheduled binding
   * by its next run, so the scheduler reads the due ones (`gsi1sk <= now`) without a scan.
   */
  schedule: (connectionId: string, bindingId: string) => ({
    pk: owned(connectionId),
    sk: `BINDSCHED#${bindingId}`,
  }),
  scheduleIndex: (nextRunAt: string, bindingId: string) => ({
    gsi1pk: 'BINDDUE',
    gsi1sk: `${nextRunAt}#${bindingId}`,
  }),
  schedulePartition: 'BINDDUE',
  /**
   * gsi1 keys of an active (QUEUED or RUNNING) run, sparse (B9): sorted by when it should have
   * moved by (queued time, then its lease's end, moved by each claim), removed when it finishes,
   * so the scheduler reads the stalled ones (`gsi1sk <= now - margin`) without a scan.
   */
  activeRun: (at: string, runId: string) => ({
    gsi1pk: 'BINDRUNS',
    gsi1sk: `${at}#${runId}`,
  }),
  activeRunPartition: 'BINDRUNS',
} as const;
