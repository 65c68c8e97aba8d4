import assert from "node:assert/strict";
import { timelineLine } from "./submit.ts";

const at = "2025-01-01T00:00:00.000Z";

Deno.test("the timeline shows the stage while processing, the output when completed and the reason when failed", () => {
  assert.equal(
    timelineLine({ job_id: "j", status: "processing", stage: "fetching_input", timestamp: at }),
    `${at}  processing fetching_input`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "completed", output_cid: "bafyout", exit_code: 0, timestamp: at }),
    `${at}  completed  output bafyout exit 0`,
  );
  assert.equal(
    timelineLine({ job_id: "j", status: "failed", reason: "nonzero_exit", message: "exit code 3", timestamp: at }),
    `${at}  failed     nonzero_exit: exit code 3`,
  );
});
