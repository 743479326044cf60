/**
 * The storage conformance suite: one behavioural suite per port, run against every backend (see
 * `sqlite.test.ts` and `postgres.test.ts`). A new backend passes when `conformanceSuite(backend)` is green.
 */
import { blobStoreSuite } from "./blobs.js"
import { eventLogSuite } from "./eventLog.js"
import type { Backend } from "./harness.js"
import { jobStoreSuite } from "./jobs.js"
import {
  artifactStoreSuite,
  blobGcLedgerSuite,
  checkpointStoreSuite,
  sandboxStoreSuite,
  timelineStoreSuite,
  toolRunStoreSuite
} from "./records.js"
import { messageStoreSuite, sessionStoreSuite } from "./sessions.js"
import { taskStoreSuite } from "./tasks.js"
import { transactorSuite, validationSuite } from "./transactions.js"

export type { Backend } from "./harness.js"

/** Every port's suite against `backend`. */
export const conformanceSuite = (backend: Backend): void => {
  sessionStoreSuite(backend)
  messageStoreSuite(backend)
  jobStoreSuite(backend)
  taskStoreSuite(backend)
  artifactStoreSuite(backend)
  sandboxStoreSuite(backend)
  toolRunStoreSuite(backend)
  checkpointStoreSuite(backend)
  blobGcLedgerSuite(backend)
  timelineStoreSuite(backend)
  eventLogSuite(backend)
  blobStoreSuite(backend)
  transactorSuite(backend)
  validationSuite(backend)
}
