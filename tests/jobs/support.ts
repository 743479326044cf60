import { Ids, JobEngine, JobHandlers, JobWorker } from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { Layer } from "effect"

/** Engine + one worker on fresh in-memory SQLite storage with the given handlers. */
export const engineLayer = (
  handlers: ReadonlyArray<JobHandlers.JobHandler>,
  worker: Partial<JobWorker.Options> = {}
) => {
  const base = Layer.mergeAll(layerMemory, Ids.layerUuidV7, JobHandlers.layer(handlers))
  const engine = JobEngine.layer
  const workers = JobWorker.layer({
    nodeId: "test-node",
    poll: "50 millis",
    retryBase: "10 millis",
    retryMax: "50 millis",
    ...worker
  })
  return Layer.provideMerge(Layer.merge(engine, workers), base)
}
