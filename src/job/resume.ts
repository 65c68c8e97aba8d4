/**
 * What happens to a job an earlier process left unfinished: the one place that reads a journal record after a
 * restart and decides. The executor carries the plan out (re-attach to a container, upload a spooled output); the
 * runner queues or reports the rest.
 */
import type { JobRecord } from "./journal.ts";

/** How an unfinished job continues after a restart. */
export type ResumePlan =
  /** Nothing outside the agent exists yet (no container): run it again from the start, through the scheduler. */
  | { kind: "queue" }
  /** Its container was created: re-attach to it (or collect its end) with the GPUs it holds. */
  | { kind: "reattach" }
  /** Its container finished: upload the output it left (spooled, or still in the output directory). */
  | { kind: "upload" }
  /** It cannot continue: report it failed with `agent_restart`. */
  | { kind: "report"; message: string };

/** The plan for one unfinished record. */
export function resumePlan(rec: JobRecord): ResumePlan {
  if (!rec.job || rec.attempt === 0) return { kind: "report", message: "The agent restarted before the job started" };
  switch (rec.state) {
    case "received":
    case "validated":
    case "fetching_input":
    case "pulling_image":
      // The input is fetched again into a fresh directory and the image pull is idempotent; the container is created
      // only after the state says `running`, so none exists yet.
      return { kind: "queue" };
    case "running":
      return { kind: "reattach" };
    case "uploading":
      return { kind: "upload" };
    default:
      return { kind: "report", message: `The agent restarted with the job in state ${rec.state}` };
  }
}
